// Writes small IDX files, plain or gzipped, for the data layer's tests.
#ifndef FFTRAIN_TRAINER_DATA_IDX_TEST_UTIL_H_
#define FFTRAIN_TRAINER_DATA_IDX_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace fftrain::trainer::test_util {

// An IDX file's bytes: magic 00 00 `type` dims.size(), the dims big-endian, then `data`.
std::string IdxBytes(uint8_t type, const std::vector<uint32_t>& dims,
                     const std::vector<uint8_t>& data);

// A path under the test's private temp folder (TEST_TMPDIR, which Bazel sets).
std::string TempPath(const std::string& name);

// Write `bytes` to `path` as they are, or as one gzip member (through zlib's gzwrite).
// Fail the current test on an I/O error.
void WriteRaw(const std::string& path, const std::string& bytes);
void WriteGzipped(const std::string& path, const std::string& bytes);

// The gzip encoding of `bytes`, made by writing and reading back a file.
std::string GzipBytes(const std::string& bytes);

}  // namespace fftrain::trainer::test_util

#endif  // FFTRAIN_TRAINER_DATA_IDX_TEST_UTIL_H_
