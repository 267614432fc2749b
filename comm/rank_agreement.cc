#include "comm/rank_agreement.h"

#include <map>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/key_value_lines.h"
#include "base/status_macros.h"

namespace fftrain::comm {
namespace {

constexpr char kAgreedPayload[] = "fftrain/agreed-failure";

absl::Status MarkAgreed(absl::Status status) {
  status.SetPayload(kAgreedPayload, absl::Cord("1"));
  return status;
}

// "code\nmessage" for a failure, "" for OK.
std::string Encode(const absl::Status& status) {
  if (status.ok()) return "";
  return absl::StrCat(static_cast<int>(status.code()), "\n", status.message());
}


}  // namespace

bool IsAgreedFailure(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kAgreedPayload).has_value();
}

absl::Status AgreeOnStatus(Communicator& communicator, const absl::Status& local) {
  FFTRAIN_ASSIGN_OR_RETURN(std::vector<std::string> all, communicator.AllGather(Encode(local)));
  if (!local.ok()) return MarkAgreed(local);
  for (size_t rank = 0; rank < all.size(); ++rank) {
    if (all[rank].empty()) continue;
    std::pair<std::string, std::string> code_message =
        absl::StrSplit(all[rank], absl::MaxSplits('\n', 1));
    int code = static_cast<int>(absl::StatusCode::kUnknown);
    if (!absl::SimpleAtoi(code_message.first, &code)) code = 2;
    return MarkAgreed(absl::Status(static_cast<absl::StatusCode>(code),
                                   absl::StrCat("rank ", rank, " failed: ",
                                                code_message.second)));
  }
  return absl::OkStatus();
}

absl::Status CheckSameOnEveryRank(Communicator& communicator, const std::string& settings) {
  FFTRAIN_ASSIGN_OR_RETURN(std::vector<std::string> all, communicator.AllGather(settings));
  const std::map<std::string, std::string> reference = base::ParseKeyValueLines(all[0]);
  for (size_t rank = 1; rank < all.size(); ++rank) {
    if (all[rank] == all[0]) continue;
    const std::map<std::string, std::string> theirs = base::ParseKeyValueLines(all[rank]);
    for (const auto& [key, value] : reference) {
      auto it = theirs.find(key);
      const std::string their_value = it == theirs.end() ? "(missing)" : it->second;
      if (their_value != value) {
        return MarkAgreed(absl::FailedPreconditionError(absl::StrCat(
            "ranks disagree: rank ", rank, " has ", key, "=", their_value, " where rank 0 has ",
            key, "=", value, "; every rank must run with the same settings")));
      }
    }
    for (const auto& [key, value] : theirs) {
      if (reference.find(key) == reference.end()) {
        return MarkAgreed(absl::FailedPreconditionError(absl::StrCat(
            "ranks disagree: rank ", rank, " has ", key, "=", value,
            " which rank 0 does not have")));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> BroadcastText(Communicator& communicator, const std::string& text) {
  FFTRAIN_ASSIGN_OR_RETURN(std::vector<std::string> all,
                           communicator.AllGather(communicator.rank() == 0 ? text : ""));
  return all[0];
}

}  // namespace fftrain::comm
