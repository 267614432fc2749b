#include "tools/bench/roofline.h"

namespace fftrain::bench {

absl::string_view ConvPassName(ConvPass pass) {
  switch (pass) {
    case ConvPass::kForward:
      return "forward";
    case ConvPass::kBackwardData:
      return "backward_data";
    case ConvPass::kBackwardFilter:
      return "backward_filter";
  }
  return "unknown";
}

}  // namespace fftrain::bench
