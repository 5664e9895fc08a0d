#include "output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "revode/core/error.hpp"

namespace revode::cli {
namespace {

std::string parent_folder(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

[[noreturn]] void cannot(std::string_view option, const std::string& path, std::string_view why) {
  throw Error(fmt::format("{} '{}' cannot be written: {}", option, path, why));
}

/// /proc and /sys accept open(O_WRONLY) from root and fail at the first write: refuse them
/// up front (their files are the kernel's interfaces, never a place for output).
bool on_virtual_file_system(const std::string& path) {
  struct statfs info {};
  if (::statfs(path.c_str(), &info) != 0) return false;
  constexpr long proc_magic = 0x9fa0, sysfs_magic = 0x62656572;
  return long(info.f_type) == proc_magic || long(info.f_type) == sysfs_magic;
}

}  // namespace

void require_writable_file(std::string_view option, const std::string& path,
                           bool replaced_by_rename) {
  if (path.empty()) cannot(option, path, "the path is empty");
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) cannot(option, path, "it is a folder");
    if (on_virtual_file_system(path))
      cannot(option, path, "it is a kernel interface file (/proc, /sys), not a place for output");
    if (replaced_by_rename && !S_ISREG(info.st_mode))
      cannot(option, path, "it is not a regular file (it is replaced by renaming onto it)");
    // Opening without O_TRUNC changes nothing; O_NONBLOCK keeps a FIFO from blocking.
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno != ENXIO) cannot(option, path, std::strerror(errno));
    if (fd >= 0) ::close(fd);
  } else if (errno != ENOENT) {
    cannot(option, path, std::strerror(errno));
  }
  // New files and renamed temporaries are created in the parent folder.
  if (!replaced_by_rename && ::stat(path.c_str(), &info) == 0) return;
  const std::string folder = parent_folder(path);
  if (::stat(folder.c_str(), &info) != 0)
    cannot(option, path, fmt::format("its folder '{}': {}", folder, std::strerror(errno)));
  if (!S_ISDIR(info.st_mode)) cannot(option, path, fmt::format("'{}' is not a folder", folder));
  if (on_virtual_file_system(folder))
    cannot(option, path,
           fmt::format("its folder '{}' is a kernel interface (/proc, /sys)", folder));
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    cannot(option, path, fmt::format("its folder '{}': {}", folder, std::strerror(errno)));
}

void require_writable_folder(std::string_view option, const std::string& path) {
  if (path.empty()) cannot(option, path, "the path is empty");
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) cannot(option, path, error.message());
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) cannot(option, path, std::strerror(errno));
  if (!S_ISDIR(info.st_mode)) cannot(option, path, "it is not a folder");
  if (on_virtual_file_system(path))
    cannot(option, path, "it is a kernel interface folder (/proc, /sys)");
  if (::access(path.c_str(), W_OK | X_OK) != 0) cannot(option, path, std::strerror(errno));
}

OutputFile::OutputFile(std::string option, std::string path)
    : option_(std::move(option)), path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("open", errno);
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);  // only after an error: close() reports its own failures
}

void OutputFile::write(std::string_view text) {
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write", errno);
    done += std::size_t(n);
  }
}

void OutputFile::close() {
  // fsync fails with EINVAL on pipes and character devices (no storage to flush): fine.
  if (::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) fail("flush", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close", errno);
}

void OutputFile::fail(std::string_view what, int error) {
  throw Error(fmt::format("{} '{}': cannot {}: {}", option_, path_, what, std::strerror(error)));
}

void write_output_file(std::string_view option, const std::string& path, std::string_view text) {
  OutputFile out{std::string(option), path};
  out.write(text);
  out.close();
}

}  // namespace revode::cli
