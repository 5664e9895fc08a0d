#include "revode/train/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "revode/core/error.hpp"

namespace revode {
namespace {

/// The folder part of `path` ("." for a bare name) and the name part.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

/// Whether process `pid` exists (EPERM: it exists, under another user).
bool process_alive(long pid) {
  if (pid <= 0 || pid != long(pid_t(pid))) return false;
  return ::kill(pid_t(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

int remove_stale_temporaries(const std::string& path) {
  const auto [folder, name] = split_path(path);
  if (name.empty()) return 0;
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return 0;  // nothing to clean; writing will report the folder
  const std::string prefix = name + ".tmp.";
  int removed = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view file(entry->d_name);
    if (!file.starts_with(prefix)) continue;
    const std::string_view digits = file.substr(prefix.size());
    long pid = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) continue;
    if (pid == long(::getpid()) || process_alive(pid)) continue;  // another writer's, in use
    const std::string stale = folder + "/" + std::string(file);
    if (::unlink(stale.c_str()) == 0) ++removed;
  }
  ::closedir(dir);
  return removed;
}

void write_file_atomically(const std::string& path, std::string_view contents) {
  // Renaming onto a device or a folder would replace it (or fail late): refuse at once.
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0)
    require(S_ISREG(info.st_mode), "cannot write '{}': it exists and is not a regular file", path);
  // A killed writer (kill -9, power loss) leaves its temporary behind: remove such files of
  // processes that no longer exist before adding ours.
  remove_stale_temporaries(path);
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
