// A scoped NVTX range, so Nsight shows each pass and phase by name. Costs nothing
// measurable when no profiler is attached.
#ifndef FFTRAIN_BASE_CUDA_NVTX_RANGE_H_
#define FFTRAIN_BASE_CUDA_NVTX_RANGE_H_

#include "nvtx3/nvToolsExt.h"

namespace fftrain::base {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace fftrain::base

#endif  // FFTRAIN_BASE_CUDA_NVTX_RANGE_H_
