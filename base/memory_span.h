// A caller-owned block of memory and the alignment that workspaces and spectra keep.
// Shared by every module that hands memory across an interface (fftconv's plans, the
// trainer's workspace pool, comm's buffers), host or device alike, so it lives in base.
#ifndef FFTRAIN_BASE_MEMORY_SPAN_H_
#define FFTRAIN_BASE_MEMORY_SPAN_H_

#include <cstddef>

namespace fftrain::base {

// A caller-owned block of memory (host memory on CPU, device memory on GPU). It owns
// nothing: whoever made it keeps the memory alive while the span is in use.
struct MemorySpan {
  void* data = nullptr;
  size_t bytes = 0;
};

// Workspace and spectra bases must be aligned to this (cudaMalloc's guarantee); regions
// inside a workspace start at multiples of it.
inline constexpr size_t kWorkspaceAlignment = 256;

// `bytes` rounded up to a multiple of `alignment` (which need not be a power of two).
inline constexpr size_t AlignUp(size_t bytes, size_t alignment = kWorkspaceAlignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

}  // namespace fftrain::base

#endif  // FFTRAIN_BASE_MEMORY_SPAN_H_
