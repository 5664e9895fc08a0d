/// Writing a file so that readers see either the old contents or the new, never a torn mix:
/// write a temporary file beside it, flush it to disk, then rename over the target (POSIX
/// rename is atomic). A run killed mid-write leaves the previous checkpoint intact.
#pragma once

#include <string>
#include <string_view>

namespace revode {

/// Replaces `path` with `contents` atomically. Throws revode::Error naming the path and the
/// system's reason when the temporary file cannot be written or renamed (it is then removed).
void write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace revode
