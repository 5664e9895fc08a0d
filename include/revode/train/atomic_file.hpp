/// Writing a file so that readers see either the old contents or the new, never a torn mix:
/// write a temporary file beside it, flush it to disk, then rename over the target (POSIX
/// rename is atomic). A run killed mid-write leaves the previous checkpoint intact.
#pragma once

#include <string>
#include <string_view>

namespace revode {

/// Replaces `path` with `contents` atomically. The temporary is `path.tmp.<pid>` in the same
/// folder (rename is atomic within one file system only); stale temporaries are removed first
/// (remove_stale_temporaries). Throws revode::Error naming the path and the system's reason
/// when the target exists but is not a regular file (a device, a folder), or when the
/// temporary file cannot be written, flushed, closed or renamed (it is then removed).
void write_file_atomically(const std::string& path, std::string_view contents);

/// Removes `path.tmp.<pid>` files beside `path` whose process no longer exists (left by a
/// writer killed mid-write); those of live processes stay. Returns how many were removed.
int remove_stale_temporaries(const std::string& path);

}  // namespace revode
