/// How `revode train` shows progress: a one-line bar redrawn in place (iteration, loss, it/s,
/// ETA) when stderr is a terminal, plain log lines every N iterations otherwise (logs, CI,
/// pipes). Everything goes to stderr so stdout keeps only the result (and --json's object).
#pragma once

#include "revode/train/trainer.hpp"

namespace revode::cli {

class TrainProgressDisplay {
 public:
  /// `log_every` 0 picks about 20 lines per run; `tty` forces the mode (tests).
  TrainProgressDisplay(Index iterations, Index log_every, bool tty);
  /// For Trainer::run's callback.
  void update(const TrainProgress& p);
  /// Ends the bar's line.
  void finish();

 private:
  void draw_bar(const TrainProgress& p);
  Index log_every_;
  bool tty_;
  bool drawn_ = false;
  double last_draw_ = -1.0;
};

}  // namespace revode::cli
