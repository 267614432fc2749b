// The roofline lower bound of the FFT method for one pass of a convolution layer, as the
// benchmarks use it. The bound, its counts and the GPU peaks are the cost model's
// (fftconv/cost_model.h, which explains them); this header gives them the benchmarks'
// names, and the pass names the benchmarks and reports use.
#ifndef FFTRAIN_TOOLS_BENCH_ROOFLINE_H_
#define FFTRAIN_TOOLS_BENCH_ROOFLINE_H_

#include "absl/strings/string_view.h"
#include "fftconv/cost_model.h"

namespace fftrain::bench {

using ::fftrain::fftconv::ConvPass;
using ::fftrain::fftconv::FftRooflineBound;
using ::fftrain::fftconv::GpuPeaks;
using ::fftrain::fftconv::RooflineBound;
using ::fftrain::fftconv::WeightSpectrum;

// "forward", "backward_data", "backward_filter": the names the benchmarks and reports use.
absl::string_view ConvPassName(ConvPass pass);

}  // namespace fftrain::bench

#endif  // FFTRAIN_TOOLS_BENCH_ROOFLINE_H_
