// A file in the temporary directory, removed when the test ends.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace revode::testing {

class TempFile {
 public:
  explicit TempFile(const std::string& name, const std::string& contents = "")
      : path_((std::filesystem::temp_directory_path() /
               ("revode_" + std::to_string(::getpid()) + "_" + name))
                  .string()) {
    if (!contents.empty()) std::ofstream(path_) << contents;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace revode::testing
