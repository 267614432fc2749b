#include "trainer/workspace_pool.h"

#include "absl/strings/str_format.h"

namespace fftrain::trainer {
namespace {

double MiB(double bytes) { return bytes / (1 << 20); }

}  // namespace

absl::StatusOr<WorkspacePool> WorkspacePool::Create(
    Backend& backend, const std::vector<WorkspaceRequest>& requests) {
  WorkspaceRequest largest{"no convolution layer", 0, 0};
  for (const WorkspaceRequest& r : requests) {
    if (r.bytes > largest.bytes) largest = r;
  }
  // Compared with the free memory first: on the CPU an allocation larger than what is
  // free can succeed and then take the machine's memory page by page.
  const auto free_bytes = backend.FreeBytes();
  absl::StatusOr<Buffer> buffer =
      free_bytes.ok() && largest.bytes > *free_bytes
          ? absl::ResourceExhaustedError(absl::StrFormat(
                "%.1f MiB asked for, %.1f MiB free", MiB(largest.bytes), MiB(*free_bytes)))
          : backend.Allocate(largest.bytes);
  if (!buffer.ok()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the workspace pool needs %.1f MiB (set by %s) but the %s device cannot hold it "
        "(%s free): %s. Use a smaller --batch_size.",
        MiB(largest.bytes), largest.layer, DeviceName(backend.device()),
        free_bytes.ok() ? absl::StrFormat("%.1f MiB", MiB(*free_bytes)) : "unknown",
        buffer.status().message()));
  }
  return WorkspacePool(std::move(buffer).value(), largest);
}

std::string WorkspacePool::Describe() const {
  if (sizing_.bytes == 0) return "workspace pool: empty (no convolution layer)";
  return absl::StrFormat(
      "workspace pool: %.1f MiB, set by %s (the paper's formula for that layer's frequency "
      "buffers, 4n(n+1)(Sf+Sf'+ff'): %.1f MiB)",
      MiB(sizing_.bytes), sizing_.layer, MiB(sizing_.paper_bytes));
}

}  // namespace fftrain::trainer
