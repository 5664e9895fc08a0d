/// Checkpoint files: the trainer's state as sealed JSON (numbers round-trip exactly: nlohmann
/// writes the shortest representation that reads back to the same double).
#include "revode/train/checkpoint.hpp"

#include <sstream>

#include "json_fields.hpp"
#include "revode/train/atomic_file.hpp"

namespace revode {
namespace {

using detail::Json;
constexpr const char* format_name = "revode-checkpoint";
constexpr int format_version = 1;

std::string rng_text(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

}  // namespace

void save_checkpoint(const std::string& path, const Trainer& trainer) {
  const TrainState state = trainer.state();
  Json doc;
  doc["format"] = format_name;
  doc["version"] = format_version;
  doc["settings"] = Json::parse(settings_to_json(trainer.settings()));
  doc["dataset_fingerprint"] = trainer.dataset().fingerprint();
  doc["iteration"] = state.iteration;
  doc["params"] = detail::number_list(state.params);
  doc["optimizer"] = Json{{"step", state.optimizer.step},
                          {"m", detail::number_list(state.optimizer.m)},
                          {"v", detail::number_list(state.optimizer.v)}};
  doc["rng"] = rng_text(state.rng);
  doc["losses"] = state.losses;
  doc["checksum"] = detail::checksum(doc);  // over everything above
  write_file_atomically(path, doc.dump() + "\n");
}

Checkpoint load_checkpoint(const std::string& path) {
  const std::string what = fmt::format("checkpoint '{}'", path);
  Json doc = detail::parse_json_object(read_text_file(path, "checkpoint"), what);
  require(doc.contains("format") && doc["format"].is_string() &&
              doc["format"].get<std::string>() == format_name,
          "{} is not a revode checkpoint (no \"format\": \"{}\")", what, format_name);
  require(doc.contains("version") && doc["version"] == format_version,
          "{} has version {}; this revode reads version {}", what,
          doc.contains("version") ? json_excerpt(doc["version"]) : "none", format_version);
  const Json sealed = detail::field(doc, "checksum", what);
  doc.erase("checksum");
  require(sealed.is_string() && sealed.get<std::string>() == detail::checksum(doc),
          "{} is corrupt: its checksum does not match its contents (the file was truncated or "
          "edited); use an earlier checkpoint or start again",
          what);

  Checkpoint c;
  const Json& settings = detail::field(doc, "settings", what);
  require(settings.is_object(), "{}: \"settings\" must be an object", what);
  c.settings = apply_settings_json(TrainSettings{}, settings.dump(), what + " settings");
  const Json& fingerprint = detail::field(doc, "dataset_fingerprint", what);
  require(fingerprint.is_string(), "{}: \"dataset_fingerprint\" must be a string", what);
  c.dataset_fingerprint = fingerprint.get<std::string>();
  const Json& iteration = detail::field(doc, "iteration", what);
  require(iteration.is_number_integer() && iteration.get<std::int64_t>() >= 0,
          "{}: \"iteration\" must be an integer >= 0", what);
  c.state.iteration = Index(iteration.get<std::int64_t>());
  c.state.params = detail::numbers(detail::field(doc, "params", what), "params", what);
  const Json& optimizer = detail::field(doc, "optimizer", what);
  const Json& step = detail::field(optimizer, "step", what);
  require(step.is_number_integer(), "{}: \"optimizer.step\" must be an integer", what);
  c.state.optimizer.step = step.get<std::int64_t>();
  c.state.optimizer.m = detail::numbers(detail::field(optimizer, "m", what), "m", what);
  c.state.optimizer.v = detail::numbers(detail::field(optimizer, "v", what), "v", what);
  const Json& rng = detail::field(doc, "rng", what);
  require(rng.is_string(), "{}: \"rng\" must be a string", what);
  std::istringstream rng_in(rng.get<std::string>());
  rng_in >> c.state.rng;
  require(!rng_in.fail(), "{}: \"rng\" is not a saved std::mt19937_64 state", what);
  const Vector<double> losses = detail::numbers(detail::field(doc, "losses", what), "losses", what);
  c.state.losses.assign(losses.data(), losses.data() + losses.size());
  return c;
}

void resume(Trainer& trainer, const Checkpoint& checkpoint, const std::string& path) {
  const std::string difference = settings_difference(checkpoint.settings, trainer.settings());
  require(difference.empty(),
          "checkpoint '{}' was written with other settings (checkpoint vs this run: {}); "
          "resume with the checkpoint's settings, or start a new run",
          path, difference);
  require(checkpoint.dataset_fingerprint == trainer.dataset().fingerprint(),
          "checkpoint '{}' was trained on other data: dataset '{}' has fingerprint {}, the "
          "checkpoint {} (the data file changed?)",
          path, trainer.dataset().name, trainer.dataset().fingerprint(),
          checkpoint.dataset_fingerprint);
  try {
    trainer.restore(checkpoint.state);
  } catch (const Error& e) {
    throw Error(fmt::format("checkpoint '{}': {}", path, e.what()));
  }
}

}  // namespace revode
