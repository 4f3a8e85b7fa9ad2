// account_store.cc: AccountStore's default RecordDevices, one RecordDevice
// per sighting.
#include "courier/account_store.h"

namespace courier {

absl::Status AccountStore::RecordDevices(absl::Span<const DeviceSighting> sightings) {
  absl::Status first;
  for (const DeviceSighting& s : sightings) {
    absl::Status status = RecordDevice(UserId(s.user), DeviceId(s.device), s.when);
    if (!status.ok() && !absl::IsNotFound(status) && first.ok()) first = std::move(status);
  }
  return first;
}

}  // namespace courier
