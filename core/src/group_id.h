// group_id.h (internal): the id of a group a user creates.
//
// A create names no id: the engine derives it from (creator, cid), so a
// create retried with the same cid (after a lost answer, on this node or any
// other, before or after a restart) names the same group, and the store's
// kGroupExists tells the engine it is a repeat. The id is "g" and then the
// first 128 bits of SHA-256(creator NUL cid) in lowercase hex (33 bytes, a
// valid GroupId: courier/group.h).
// Thread-safety: a pure function. Blocking: never blocks.
#ifndef COURIER_CORE_SRC_GROUP_ID_H_
#define COURIER_CORE_SRC_GROUP_ID_H_

#include <string_view>

#include "courier/types.h"

namespace courier::internal {

GroupId DeriveGroupId(const UserId& creator, std::string_view cid);

}  // namespace courier::internal

#endif  // COURIER_CORE_SRC_GROUP_ID_H_
