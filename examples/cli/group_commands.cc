// courier-cli: the group commands (docs/PROTOCOL.md "Groups"): one `group` or
// `groups` op on a WebSocket session, its answer printed as one JSON line.
#include "absl/strings/str_cat.h"
#include "chat_session.h"
#include "commands.h"
#include "credentials.h"
#include "json.h"
#include "output.h"

namespace courier_cli {

namespace {

// Writes `frame` and waits for the answer that carries `cid`: `want` is
// printed, an `error` is returned as its Status. Inbox events wait for listen.
absl::Status Ask(Context& ctx, const std::string& device, const std::string& frame, const std::string& cid,
                 const std::string& want) {
  auto me = LoadCredentials(ctx.token_file);
  if (!me.ok()) return me.status();
  auto session = ChatSession::Open(ctx, *me, device, std::nullopt);
  if (!session.ok()) return session.status();
  if (absl::Status s = (*session)->Write(frame); !s.ok()) return s;
  const Clock::time_point deadline = Clock::now() + ctx.connect.timeout;
  for (;;) {
    auto reply = (*session)->Next(deadline);
    if (!reply.ok()) {
      if (absl::IsDeadlineExceeded(reply.status())) {
        return absl::DeadlineExceededError(absl::StrCat("no `", want, "` for ", cid, " in ",
                                                        ctx.connect.timeout.count(), " ms"));
      }
      return reply.status();
    }
    const std::string op = StringField(*reply, "op").value_or("");
    const std::string about = StringField(*reply, "cid").value_or("");
    if (op == want && about == cid) {
      (*session)->Close();
      return PrintLine(Compact(*reply));
    }
    if (op == "error" && (about.empty() || about == cid)) return FrameError(*reply);
  }
}

}  // namespace

absl::Status ChangeGroup(Context& ctx, const GroupOptions& options) {
  const std::string cid = options.cid.empty() ? RandomCid() : options.cid;
  JsonObject frame;
  frame.Add("op", "group").Add("cid", cid).Add("action", options.action);
  if (options.action != "create") frame.Add("group", options.group);
  if (options.action == "create" || options.action == "add" || options.action == "remove") {
    frame.AddStrings("members", options.members);
  }
  if (options.action == "create" || options.action == "rename") frame.Add("name", options.name);
  return Ask(ctx, options.device, frame.str(), cid, "group_ok");
}

absl::Status ListGroups(Context& ctx, const std::string& group, const std::string& device) {
  const std::string cid = RandomCid();
  JsonObject frame;
  frame.Add("op", "groups").Add("cid", cid);
  if (!group.empty()) frame.Add("group", group);
  return Ask(ctx, device, frame.str(), cid, "groups");
}

}  // namespace courier_cli
