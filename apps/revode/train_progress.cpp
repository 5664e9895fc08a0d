#include "train_progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace revode::cli {
namespace {

constexpr int bar_width = 24;
constexpr double redraw_seconds = 0.1;  // 10 Hz: a redraw per iteration would cost more than one

/// "1.2 s", "3 min 20 s", "1 h 05 min".
std::string duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "?";
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const long s = long(seconds);
  if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} h {:02} min", s / 3600, (s % 3600) / 60);
}

double rate(const TrainProgress& p) {
  return p.seconds > 0 ? double(p.iterations_run) / p.seconds : 0.0;
}

}  // namespace

TrainProgressDisplay::TrainProgressDisplay(Index iterations, Index log_every, bool tty)
    : log_every_(log_every > 0 ? log_every : std::max<Index>(1, iterations / 20)), tty_(tty) {}

void TrainProgressDisplay::update(const TrainProgress& p) {
  const bool last = p.iteration == p.iterations;
  if (tty_) {
    if (last || p.seconds - last_draw_ >= redraw_seconds) draw_bar(p);
    return;
  }
  if (!last && p.iteration % log_every_ != 0) return;
  const double per_second = rate(p);
  fmt::print(stderr, "iteration {}/{}  loss {:.6e}  best {:.6e}  lr {:.3g}  {:.1f} it/s  ETA {}\n",
             p.iteration, p.iterations, p.loss, p.best_loss, p.lr, per_second,
             duration(per_second > 0 ? double(p.iterations - p.iteration) / per_second : 0.0));
  std::fflush(stderr);
}

void TrainProgressDisplay::draw_bar(const TrainProgress& p) {
  last_draw_ = p.seconds;
  const double done = double(p.iteration) / double(std::max<Index>(p.iterations, 1));
  const int filled = int(done * bar_width);
  const double per_second = rate(p);
  fmt::print(stderr, "\r{:>{}}/{} [{}{}] loss {:.4e} best {:.4e} {:.0f} it/s ETA {}\033[K",
             p.iteration, fmt::formatted_size("{}", p.iterations), p.iterations,
             std::string(std::size_t(filled), '#'), std::string(std::size_t(bar_width - filled), '-'),
             p.loss, p.best_loss, per_second,
             duration(per_second > 0 ? double(p.iterations - p.iteration) / per_second : 0.0));
  std::fflush(stderr);
  drawn_ = true;
}

void TrainProgressDisplay::finish() {
  if (drawn_) fmt::print(stderr, "\n");
  drawn_ = false;
}

}  // namespace revode::cli
