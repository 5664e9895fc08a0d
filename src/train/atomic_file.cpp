#include "revode/train/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "revode/core/error.hpp"

namespace revode {

void write_file_atomically(const std::string& path, std::string_view contents) {
  // The pid keeps two processes writing the same target from sharing a temporary file.
  const std::string temporary = fmt::format("{}.tmp.{}", path, ::getpid());
  const auto fail = [&](std::string_view what) {
    const int error = errno;
    ::unlink(temporary.c_str());
    throw Error(fmt::format("cannot {} '{}': {}", what, path, std::strerror(error)));
  };
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("create a temporary file beside");
  for (std::size_t written = 0; written < contents.size();) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      fail("write");
    }
    written += std::size_t(n);
  }
  // fsync before rename: otherwise a power loss could leave the new name on empty data.
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("flush");
  }
  if (::close(fd) != 0) fail("close");
  if (std::rename(temporary.c_str(), path.c_str()) != 0) fail("rename a temporary file onto");
}

}  // namespace revode
