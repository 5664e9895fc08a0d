/// Every file the command-line tool writes goes through here, so that no failure passes
/// unseen: paths are checked before the work starts, and each write, flush and close is
/// checked; a failure is a revode::Error (exit 2) naming the option, the path and the
/// system's reason (strerror).
#pragma once

#include <string>
#include <string_view>

namespace revode::cli {

/// Fails at once when `path` (given as `option`) cannot be written: an existing file that
/// cannot be opened for writing (read-only, /proc/…), a folder, or a missing or unwritable
/// parent folder. Writes nothing and does not truncate an existing file. With
/// `replaced_by_rename` (checkpoints, parameter files) the target must also be a regular file
/// or absent, since a device or a folder cannot be replaced.
void require_writable_file(std::string_view option, const std::string& path,
                           bool replaced_by_rename = false);

/// Creates the folder `path` (and its parents) when missing and fails at once when it is not
/// a writable folder.
void require_writable_folder(std::string_view option, const std::string& path);

/// A file written with checked POSIX calls (no stream buffer hides a failed write: rows
/// written so far are on disk, which a long benchmark wants).
class OutputFile {
 public:
  /// Creates or truncates `path`; `option` ("--csv") names it in messages.
  OutputFile(std::string option, std::string path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(std::string_view text);
  /// Flushes to the device and closes; throws when either fails (e.g. ENOSPC, EIO).
  void close();
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail(std::string_view what, int error);
  std::string option_, path_;
  int fd_ = -1;
};

/// Writes `text` to `path` in one go through OutputFile.
void write_output_file(std::string_view option, const std::string& path, std::string_view text);

}  // namespace revode::cli
