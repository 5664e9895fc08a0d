// Files written and read by training under hostile conditions (issue #16): temporaries of
// killed writers are removed, devices are never renamed over, hostile JSON is refused without
// recursion, and generated data are identified by their recipe, not their last bits.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "revode/core/error.hpp"
#include "revode/train/atomic_file.hpp"
#include "revode/train/checkpoint.hpp"
#include "revode/train/dataset.hpp"
#include "revode/train/train_settings.hpp"
#include "temp_file.hpp"
#include "support/error_of.hpp"

namespace revode {
namespace {

using testing::error_of;

using testing::TempFile;

/// A pid that no process has: a child that has already exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(AtomicFile, TemporariesOfDeadWritersAreRemoved) {
  TempFile target("stale.ckpt");
  const std::string stale = fmt::format("{}.tmp.{}", target.path(), dead_pid());
  const std::string live = fmt::format("{}.tmp.{}", target.path(), ::getppid());
  const std::string other = target.path() + ".tmp.notapid";
  for (const auto& p : {stale, live, other}) std::ofstream(p) << "partial";
  write_file_atomically(target.path(), "new\n");
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(live));  // its writer may still be running
  EXPECT_TRUE(std::filesystem::exists(other));
  std::ifstream in(target.path());
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "new\n");
  std::filesystem::remove(live);
  std::filesystem::remove(other);
}

TEST(AtomicFile, DevicesAndFoldersAreNeverReplaced) {
  EXPECT_NE(error_of([] { write_file_atomically("/dev/null", "x"); }).find("not a regular file"),
            std::string::npos);
  const std::string folder = std::filesystem::temp_directory_path().string();
  EXPECT_NE(error_of([&] { write_file_atomically(folder, "x"); }).find("not a regular file"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              write_file_atomically("/no/such/folder/x", "x");
            }).find("No such file or directory"),
            std::string::npos);
}

TEST(HostileJson, DeepCheckpointAndConfigAreRefused) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  TempFile checkpoint("deep.ckpt", "{\"format\": \"revode-checkpoint\", \"losses\": " + deep + "}");
  EXPECT_NE(error_of([&] { load_checkpoint(checkpoint.path()); }).find("deeper than 64 levels"),
            std::string::npos);
  TempFile config("deep_config.json", "{\"lr\": " + deep + "}");
  EXPECT_NE(error_of([&] {
              apply_config_file(TrainSettings{}, config.path());
            }).find("deeper than 64 levels"),
            std::string::npos);
  // A wrong value is quoted, not dumped whole.
  TempFile wide("wide_config.json", "{\"lr\": [" + std::string(20000, '1') + "]}");
  EXPECT_LT(error_of([&] { apply_config_file(TrainSettings{}, wide.path()); }).size(), 400u);
}

TEST(Dataset, GeneratedDataAreIdentifiedByTheirRecipe) {
  // A release and a sanitizer build generate the white dwarf with different last bits; a
  // checkpoint must still resume across them.
  Dataset a = make_dataset("white-dwarf");
  ASSERT_FALSE(a.recipe.empty());
  const std::string before = a.fingerprint();
  a.states(1, 500) = std::nextafter(a.states(1, 500), 10.0);
  EXPECT_EQ(a.fingerprint(), before);
  a.recipe += " changed";
  EXPECT_NE(a.fingerprint(), before);
}

}  // namespace
}  // namespace revode
