// One parameterised case of a reversible-gradient test (solver × step control × batch) and
// its gtest name, shared by the reversible and composition gradient tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "revode/core/types.hpp"

namespace revode::testing {

struct SolverCase {
  std::string solver;
  bool adaptive;
  Index batch;
};

/// "alf_yoshida4_adaptive_batch8"; McCallum–Foster's "reversible:X" reads "McCallumFoster_X"
/// so it stays distinct from reversible-heun.
inline std::string solver_case_name(const ::testing::TestParamInfo<SolverCase>& info) {
  std::string s = info.param.solver + (info.param.adaptive ? "_adaptive" : "_fixed") + "_batch" +
                  std::to_string(info.param.batch);
  if (s.starts_with("reversible:")) s = "McCallumFoster_" + s.substr(11);
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

}  // namespace revode::testing
