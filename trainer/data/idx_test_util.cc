#include "trainer/data/idx_test_util.h"

#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "gtest/gtest.h"

namespace fftrain::trainer::test_util {

std::string IdxBytes(uint8_t type, const std::vector<uint32_t>& dims,
                     const std::vector<uint8_t>& data) {
  std::string bytes = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(d >> shift));
  }
  bytes.append(data.begin(), data.end());
  return bytes;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

void WriteGzipped(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << "gzopen " << path;
  const int written = gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  const int closed = gzclose(file);
  ASSERT_EQ(written, static_cast<int>(bytes.size())) << "gzwrite " << path;
  ASSERT_EQ(closed, Z_OK) << "gzclose " << path;
}

std::string GzipBytes(const std::string& bytes) {
  const std::string path = TempPath("gzip_bytes.tmp.gz");
  WriteGzipped(path, bytes);
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace fftrain::trainer::test_util
