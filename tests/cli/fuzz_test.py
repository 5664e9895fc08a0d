#!/usr/bin/python3
"""Fuzz test of the `revode` command line (issue #16): seeded, deterministic, bounded in time.

Runs every fixed reproducer of issue #16, then a few hundred command lines generated from a
valid base command per subcommand by replacing option values with hostile ones (out-of-range
integers, empty values, non-finite numbers, huge sizes, malformed lists) and by pointing file
options at mutated files (deeply nested, truncated, edited JSON; broken CSV) or at paths that
cannot be written (/dev/full, /proc/version, a missing folder). Every run must end:

- without a signal (crash) and without a sanitizer report;
- without "internal error" (exit 3: reserved for bugs);
- within the per-case time bound (no hang);
- with no NaN or Inf in a JSON result on stdout or in a CSV it wrote (exit 0);
- with a non-zero exit whenever one of its outputs could not be written.

Usage: fuzz_test.py REVODE [--cases N] [--seed S] [--timeout SECONDS] [--verbose]
(REVODE_FUZZ_CASES, REVODE_FUZZ_SEED and REVODE_FUZZ_TIMEOUT set the same.)
"""
import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

# Hostile values, by the kind of option they go to. Sizes that only cost time when in range
# (steps, iterations) get out-of-range and malformed values only; sizes that cost memory get
# huge in-range values too, which the memory limit must refuse.
MALFORMED = ["", " ", "abc", "1x", "--", "1,,2", ",", "0x10", "+-1", "1e", "\t"]
OUT_OF_RANGE = ["-1", "-9223372036854775809", "9223372036854775808", "18446744073709551616",
                "99999999999999999999", "-0", "00"]
HUGE_SIZES = ["4611686018427387904", "9223372036854775807", "1000000000000", "4294967297"]
FLOATS = ["nan", "inf", "-inf", "1e308", "-1e308", "1e999", "-1e-320", "0", "-0.5", "2", "1e15",
          "-1e15", "0.5"]
TEXT = ["", "nope", "mlp:", "mlp:2,,2", "reversible:", "checkpoint:", "adjoint:seminorm,seminorm",
        "checkpoint:0", "checkpoint:4294967297", "checkpoint:1000000000000", "a" * 300]

TIME_COUNTS = MALFORMED + OUT_OF_RANGE
SIZE_COUNTS = MALFORMED + OUT_OF_RANGE + HUGE_SIZES

# Valid values, mixed in so that generated commands also get past parsing and into the solvers,
# gradient methods and writers with a hostile value elsewhere.
BENIGN = {
    "time": ["1", "2", "3"], "size": ["1", "2", "3", "5"], "size-list": ["3,4", "2"],
    "float": ["0.5", "1e-3", "0.9", "1"],
    "text": ["reversible", "backprop", "checkpoint:2", "anode", "symplectic", "adjoint",
             "adjoint:seminorm", "midpoint", "reversible:rk4", "alf", "reversible-heun", "rk4",
             "float32", "mlp:2,3,2", "linear", "relu", "implicit", "plain"],
}


class Case:
    def __init__(self, name, args, must_fail=False, files=(), timeout=None):
        self.name, self.args, self.must_fail = name, args, must_fail
        self.files = list(files)  # CSV/JSON outputs to check for non-finite numbers on success
        self.timeout = timeout


def nested(depth, inner="1"):
    return "[" * depth + inner + "]" * depth


class Workspace:
    """The files the cases read: valid ones and mutated copies (written once, in a temp dir)."""

    def __init__(self, root, revode):
        self.root, self.revode = root, revode
        # Outputs go to /dev/full through a link: a regression that renames a temporary onto
        # its target (as root) then replaces the link, never the machine's /dev/full.
        self.full = os.path.join(root, "full")
        os.symlink("/dev/full", self.full)
        self.csv = self.write("data.csv", "t,x,y\n" + "".join(
            f"{0.1 * k},{math.cos(0.1 * k)},{math.sin(0.1 * k)}\n" for k in range(11)))
        self.params = self.write("params.json", json.dumps({"params": [1.0, -1.0]}))
        self.mse = self.write("mse.txt", "0 0.5 0.5\n1 0.1 0.2\n")
        self.config = self.write("config.json", json.dumps({"lr": 0.01, "iterations": 2}))
        self.deep = self.write("deep.json", nested(100_000))
        self.deep_params = self.write("deep_params.json", '{"params": ' + nested(100_000) + "}")
        self.deep_config = self.write("deep_config.json", '{"lr": ' + nested(100_000) + "}")
        self.checkpoint = os.path.join(root, "run.ckpt")
        subprocess.run([revode, "train", "--dataset", self.csv, "--iterations", "2",
                        "--checkpoint", self.checkpoint], check=True, capture_output=True,
                       timeout=60)
        with open(self.checkpoint) as f:
            text = f.read()
        self.ckpt_text = text
        doc = json.loads(text)
        doc["losses"] = nested(100_000)  # replaced textually below
        deep_ckpt = json.dumps(doc).replace('"' + nested(100_000) + '"', nested(100_000))
        self.deep_checkpoint = self.write("deep.ckpt", deep_ckpt)
        self.truncated_checkpoint = self.write("truncated.ckpt", text[: len(text) // 2])
        flipped = text.replace('"iteration": 2', '"iteration": 3').replace('"iteration":2', '"iteration":3')
        self.edited_checkpoint = self.write("edited.ckpt", flipped)

    def write(self, name, text):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def out(self, name):
        return os.path.join(self.root, name)


def fixed_cases(w):
    """Every reproducer listed in issue #16, and the write failures."""
    mlp_30k = "mlp:" + ",".join(["2"] * 30_000)
    c = [
        # internal errors on absurd sizes
        Case("batch 2^62", ["grad", "--field", "white-dwarf", "--batch", "4611686018427387904",
                            "--solver", "euler", "--steps", "2", "--saveat", "3"], True),
        Case("train iterations int64 max",
             ["train", "--dataset", "white-dwarf", "--iterations", "9223372036854775807"], True),
        Case("saveat int64 max", ["grad", "--field", "mlp:1,2,1", "--solver", "reversible:midpoint",
                                  "--steps", "1", "--saveat", "9223372036854775807",
                                  "--method", "checkpoint:8"], True),
        Case("deq points 1e12", ["deq", "train", "--points", "1000000000000"], True),
        Case("deq points near 2^63", ["deq", "train", "--points", "4611686018427387904"], True),
        Case("checkpoint with int64-max steps", ["bench", "complexity", "--methods", "checkpoint:2",
                                                 "--steps", "9223372036854775807", "--repeats", "1",
                                                 "--plot", "", "--csv", w.out("c3.csv")], True),
        Case("deq state-dim int64 max", ["deq", "train", "--state-dim", "9223372036854775807"], True),
        Case("saveat steps, 1e12 steps, data", ["grad", "--field", "linear", "--steps", "1000000000000",
                                                "--saveat", "steps", "--loss", "mse-data:" + w.mse], True),
        # deep JSON
        Case("deep params", ["solve", "--field", "van-der-pol", "--params", w.deep], True),
        Case("deep params value", ["solve", "--field", "van-der-pol", "--params", w.deep_params], True),
        Case("deep config", ["train", "--dataset", w.csv, "--config", w.deep_config], True),
        Case("deep config list", ["train", "--dataset", w.csv, "--config", w.deep], True),
        Case("deep checkpoint", ["train", "--dataset", w.csv, "--resume", w.deep_checkpoint], True),
        Case("truncated checkpoint", ["train", "--dataset", w.csv, "--resume",
                                      w.truncated_checkpoint], True),
        Case("edited checkpoint", ["train", "--dataset", w.csv, "--resume", w.edited_checkpoint], True),
        # hangs
        Case("checkpoint:2^32+1", ["grad", "--field", "mlp:2,4,2", "--steps", "10",
                                   "--method", "checkpoint:4294967297"]),
        Case("adaptive checkpoint:2^32+1", ["grad", "--field", "mlp:2,4,2", "--rtol", "1e-3",
                                            "--method", "checkpoint:4294967297"]),
        Case("bench checkpoint:1e12", ["bench", "complexity", "--methods", "checkpoint:1000000000000",
                                       "--steps", "10,5", "--repeats", "1", "--plot", "",
                                       "--csv", w.out("c1.csv")], files=[w.out("c1.csv")]),
        Case("steps 1e20", ["solve", "--field", "linear", "--steps", "99999999999999999999",
                            "--rtol", "1e-3"], True),
        Case("steps 2^63", ["solve", "--field", "linear", "--steps", "9223372036854775808"], True),
        Case("empty iterations", ["train", "--dataset", w.csv, "--iterations", ""], True),
        Case("mlp 30000 layers", ["solve", "--field", mlp_30k, "--steps", "1", "--saveat", "final"],
             timeout=15),
        Case("mlp 30000 layers bad", ["solve", "--field", mlp_30k + ",0", "--steps", "1"], True,
             timeout=15),
        # exit 0 although the output was not written
        Case("stability /dev/full", ["stability", "--solver", "heun", "--plot", "", "--csv", w.full], True),
        Case("stability /proc/version", ["stability", "--solver", "heun", "--plot", "", "--csv",
                                         "/proc/version"], True),
        Case("stability missing folder", ["stability", "--plot", "", "--csv", w.out("no/such/x.csv")], True),
        Case("stability plot unwritable", ["stability", "--csv", w.out("s.csv"), "--plot", "/proc/version"], True),
        Case("complexity /proc/version", ["bench", "complexity", "--methods", "backprop", "--steps", "5",
                                          "--repeats", "1", "--plot", "", "--csv", "/proc/version"], True),
        Case("complexity /dev/full", ["bench", "complexity", "--methods", "backprop", "--steps", "5",
                                      "--repeats", "1", "--plot", "", "--csv", w.full], True),
        Case("paper /proc/x", ["bench", "paper", "--experiment", "white-dwarf", "--iterations", "1",
                               "--seeds", "1", "--repeats", "1", "--out", "/proc/x"], True),
        Case("paper /dev/full", ["bench", "paper", "--experiment", "white-dwarf", "--iterations", "1",
                                 "--seeds", "1", "--repeats", "1", "--out", w.full], True),
        Case("train output /dev/full", ["train", "--dataset", w.csv, "--iterations", "1",
                                        "--output", w.full], True),
        Case("train output /proc/version", ["train", "--dataset", w.csv, "--iterations", "1",
                                            "--output", "/proc/version"], True),
        Case("train checkpoint /dev/full", ["train", "--dataset", w.csv, "--iterations", "1",
                                            "--checkpoint", w.full], True),
        Case("train checkpoint missing folder", ["train", "--dataset", w.csv, "--iterations", "1",
                                                 "--checkpoint", w.out("no/such/run.ckpt")], True),
        Case("train plot unwritable", ["train", "--dataset", w.csv, "--iterations", "1",
                                       "--plot", "/proc/version"], True),
        # non-finite values written silently
        Case("stability re-max inf", ["stability", "--solver", "fehlberg2", "--re-min", "-10",
                                      "--re-max", "inf", "--plot", "", "--csv", w.out("s1.csv")], True),
        Case("stability im-max 1e308", ["stability", "--im-max", "1e308", "--plot", "",
                                        "--csv", w.out("s2.csv")], True),
        Case("stability re-min -1e308", ["stability", "--re-min", "-1e308", "--plot", "",
                                         "--csv", w.out("s3.csv")], True),
        # invalid input accepted
        Case("empty y0", ["solve", "--field", "linear", "--y0", ""], True),
        Case("seed 2^64", ["solve", "--seed", "18446744073709551616", "--steps", "2"], True),
        Case("max-steps 2^64", ["solve", "--field", "linear", "--rtol", "1e-3",
                                "--max-steps", "18446744073709551616"], True),
        Case("empty dense", ["train", "--dataset", w.csv, "--iterations", "1", "--dense", ""], True),
        Case("seminorm twice", ["grad", "--field", "linear", "--method", "adjoint:seminorm,seminorm"], True),
        Case("coupling -1e15", ["solve", "--field", "linear", "--solver", "rk4", "--coupling", "-1e15"], True),
        Case("damping 1e15", ["solve", "--field", "linear", "--solver", "rk4", "--damping", "1e15"], True),
        Case("complexity empty steps", ["bench", "complexity", "--steps", "", "--plot", "",
                                        "--csv", w.out("c2.csv")], True),
        Case("octal steps", ["solve", "--field", "linear", "--steps", "010", "--json"]),
        # valid runs whose outputs must be finite
        Case("stability ok", ["stability", "--solver", "alf", "--plot", "", "--json",
                              "--csv", w.out("s4.csv")], files=[w.out("s4.csv")]),
        Case("train ok", ["train", "--dataset", w.csv, "--iterations", "2", "--json",
                          "--output", w.out("p.json"), "--checkpoint", w.out("ok.ckpt")],
             files=[w.out("p.json")]),
        Case("resume ok", ["train", "--dataset", w.csv, "--resume", w.checkpoint, "--iterations", "4",
                           "--checkpoint", w.out("resumed.ckpt"), "--json"]),
    ]
    return c


def bases(w):
    """One valid, fast command per subcommand: (args, {option: kind}) with kind in
    time/size/float/text/path-in/path-out."""
    return [
        (["solve", "--field", "mlp:2,4,2", "--steps", "4", "--json"],
         {"--steps": "time", "--batch": "size", "--saveat": "size", "--seed": "time",
          "--y0": "float", "--t0": "float", "--t1": "float", "--coupling": "float",
          "--damping": "float", "--solver": "text", "--field": "text", "--dtype": "text",
          "--params": "path-in", "--activation": "text"}),
        (["solve", "--field", "van-der-pol", "--rtol", "1e-4", "--json"],
         {"--rtol": "float", "--atol": "float", "--max-steps": "time", "--dtmin": "float",
          "--saveat": "size", "--params": "path-in"}),
        (["grad", "--field", "linear", "--steps", "3", "--method", "reversible",
          "--solver", "reversible:midpoint", "--json"],
         {"--method": "text", "--batch": "size", "--saveat": "size", "--loss": "loss",
          "--coupling": "float", "--steps": "time", "--dtype": "text"}),
        (["grad", "--field", "mlp:2,4,2", "--rtol", "1e-3", "--method", "adjoint", "--json"],
         {"--method": "text", "--rtol": "float", "--atol": "float", "--max-steps": "time"}),
        (["train", "--dataset", w.csv, "--iterations", "2", "--json"],
         {"--iterations": "time", "--lr": "float", "--steps": "time", "--widths": "text",
          "--method": "text", "--solver": "text", "--seed": "time", "--clip": "float",
          "--config": "path-in", "--resume": "path-in", "--output": "path-out",
          "--checkpoint": "path-out", "--checkpoint-every": "time", "--coupling": "float",
          "--dataset": "path-in", "--dt": "float", "--weight-decay": "float"}),
        (["deq", "train", "--iterations", "2", "--points", "8", "--method", "reversible",
          "--check-every", "0", "--json"],
         {"--iterations": "time", "--points": "size", "--state-dim": "size", "--hidden": "size",
          "--classes": "size", "--beta": "float", "--tol": "float", "--max-steps": "time",
          "--lr": "float", "--turns": "float", "--noise": "float", "--seed": "time",
          "--contraction": "float", "--max-lipschitz": "float", "--method": "text"}),
        (["stability", "--solver", "heun", "--plot", "", "--json", "--csv", w.out("st.csv")],
         {"--solver": "text", "--re-min": "float", "--re-max": "float", "--im-max": "float",
          "--coupling": "float", "--damping": "float", "--csv": "path-out"}),
        (["bench", "complexity", "--methods", "backprop,checkpoint:2", "--steps", "5",
          "--repeats", "1", "--plot", "", "--csv", w.out("bc.csv")],
         {"--methods": "text", "--steps": "size-list", "--repeats": "time", "--csv": "path-out"}),
    ]


def mutated_files(w):
    # Seeded byte-level damage to valid files: truncations, flipped characters, deleted ones.
    rng = random.Random(1)
    damaged = []
    for k in range(12):
        text = rng.choice([w.ckpt_text, open(w.params).read(), open(w.config).read(),
                           open(w.csv).read(), open(w.mse).read()])
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.3:
                chars = chars[:at]
            elif op < 0.7:
                chars[at] = rng.choice('[]{}",:-0123456789eE.naNIf \n')
            else:
                del chars[at]
            if not chars:
                break
        damaged.append(w.write(f"damaged{k}.txt", "".join(chars)))
    return damaged + [w.deep, w.deep_params, w.deep_config, w.deep_checkpoint, w.truncated_checkpoint,
            w.edited_checkpoint, w.out("missing.json"), "/proc/version", "/dev/null",
            w.write("empty.json", ""), w.write("nan.json", '{"params": [NaN]}'),
            w.write("null.json", '{"params": [null, 1]}'),
            w.write("str.json", '{"params": "1,2"}'),
            w.write("big.json", '{"params": [1e999, 1]}'),
            w.write("cfg_bad.json", '{"lr": -1, "iterations": 1e30}'),
            w.write("cfg_int.json", '{"iterations": 99999999999999999999}'),
            w.write("bad.csv", "t,x\n0,nan\n1,2\n"), w.write("dup.csv", "t,x\n0,1\n0,2\n"),
            w.write("one.csv", "t,x\n0,1\n"), w.checkpoint, w.csv, w.params, w.config]


def random_cases(w, rng, count):
    unwritable = [w.full, "/proc/version", "/no/such/folder/x", "/proc/x/y"]
    base_list = bases(w)
    files = mutated_files(w)
    cases = []
    for i in range(count):
        args, options = rng.choice(base_list)
        args = list(args)
        must_fail = False
        written = []
        for _ in range(rng.choice([1, 2, 2, 3])):
            option, kind = rng.choice(sorted(options.items()))
            if kind in BENIGN and rng.random() < 0.4:
                value = rng.choice(BENIGN[kind])
            elif kind == "time":
                value = rng.choice(TIME_COUNTS)
            elif kind == "size":
                value = rng.choice(SIZE_COUNTS)
            elif kind == "size-list":
                value = rng.choice(SIZE_COUNTS + ["5,", "5,,6", "0,5"])
            elif kind == "float":
                value = rng.choice(FLOATS)
            elif kind == "text":
                value = rng.choice(TEXT)
            elif kind == "loss":
                value = rng.choice(["mse-data:" + f for f in files[:8]] + ["mse-data:", "mse"])
            elif kind == "path-in":
                value = rng.choice(files)
            else:  # path-out: unwritable ones must make the run fail
                value = rng.choice(unwritable + [w.out(f"out{i}.json")])
            if option in args:
                args[args.index(option) + 1] = value
            else:
                args += [option, value]
        # Decided on the final command line (a later mutation may replace an earlier one).
        for k, a in enumerate(args[:-1]):
            if options.get(a) == "path-out":
                must_fail = must_fail or args[k + 1] in unwritable
            if a == "--csv" and args[k + 1] not in unwritable:
                written.append(args[k + 1])
        cases.append(Case(f"random #{i}", args, must_fail, files=written))
    return cases


# Keys whose value may be null by design; any other null is a NaN or Inf that nlohmann wrote
# as null.
NULLABLE = {"params_file", "checkpoint", "final_loss", "clip"}


def non_finite(text):
    """Whether a JSON document holds NaN or Infinity (Python's json accepts them), or a null
    where a number belongs."""
    bad = []
    doc = json.loads(text, parse_constant=lambda c: bad.append(c))

    def walk(value, key):
        if value is None and key not in NULLABLE:
            bad.append(f"null at {key}")
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)

    walk(doc, "")
    return bool(bad)


def csv_non_finite(path):
    try:
        with open(path) as f:
            for line in f:
                for field in line.strip().split(","):
                    try:
                        if not math.isfinite(float(field)):
                            return True
                    except ValueError:
                        pass
    except (OSError, UnicodeDecodeError):
        pass
    return False


def check(case, revode, cwd, timeout, env):
    start = time.monotonic()
    try:
        r = subprocess.run([revode] + case.args, cwd=cwd, capture_output=True, text=True,
                           errors="replace", timeout=case.timeout or timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"hang: no exit within {case.timeout or timeout} s", time.monotonic() - start, "hang"
    seconds = time.monotonic() - start
    err = r.stderr
    if r.returncode < 0:
        return f"killed by signal {-r.returncode}: {err[-500:]}", seconds, r.returncode
    for marker in ("internal error", "AddressSanitizer", "runtime error:", "LeakSanitizer"):
        if marker in err:
            return f"'{marker}' (exit {r.returncode}): {err[-800:]}", seconds, r.returncode
    if r.returncode == 3:
        return f"exit 3: {err[-500:]}", seconds, r.returncode
    if case.must_fail and r.returncode == 0:
        return "exit 0, expected an error", seconds, r.returncode
    if r.returncode == 0:
        if "--json" in case.args:
            lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
            if not lines:
                return "exit 0 with --json but no JSON object printed", seconds, r.returncode
            try:
                if non_finite(lines[-1]):
                    return f"non-finite number in the JSON result: {lines[-1][:300]}", seconds, r.returncode
            except ValueError as e:
                return f"invalid JSON printed: {e}", seconds, r.returncode
        for path in case.files:
            if path.endswith(".json") and "--csv" not in case.args and os.path.exists(path):
                with open(path) as f:
                    try:
                        if non_finite(f.read()):
                            return f"non-finite number in {path}", seconds, r.returncode
                    except ValueError as e:
                        return f"invalid JSON written to {path}: {e}", seconds, r.returncode
            elif csv_non_finite(path):
                return f"non-finite number in {path}", seconds, r.returncode
    return None, seconds, r.returncode


def main():
    p = argparse.ArgumentParser()
    p.add_argument("revode")
    p.add_argument("--cases", type=int, default=int(os.environ.get("REVODE_FUZZ_CASES", "400")))
    p.add_argument("--seed", type=int, default=int(os.environ.get("REVODE_FUZZ_SEED", "16")))
    p.add_argument("--timeout", type=float,
                   default=float(os.environ.get("REVODE_FUZZ_TIMEOUT", "20")))
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args()
    revode = os.path.abspath(a.revode)
    root = tempfile.mkdtemp(prefix="revode_fuzz_")
    env = dict(os.environ)
    # A low limit keeps a size that the checks let through from costing the machine's memory.
    env["REVODE_MEMORY_LIMIT"] = "1G"
    env.setdefault("REVODE_SCRIPTS", os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
    failures = []
    started = time.monotonic()
    try:
        w = Workspace(root, revode)
        cases = fixed_cases(w) + random_cases(w, random.Random(a.seed), a.cases)
        slowest = (0.0, "")
        statuses = {}
        for case in cases:
            problem, seconds, status = check(case, revode, root, a.timeout, env)
            statuses[status] = statuses.get(status, 0) + 1
            slowest = max(slowest, (seconds, case.name))
            if a.verbose:
                print(f"{seconds:6.2f}s {case.name}: {problem or 'ok'}")
            if problem:
                failures.append(f"{case.name}: revode {' '.join(repr(x)[1:-1] if x else repr(x) for x in case.args)[:400]}\n    {problem}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    total = time.monotonic() - started
    if not os.path.exists("/dev/full") or os.path.isfile("/dev/full"):
        failures.append("/dev/full is no longer a device: a write replaced it")
    print(f"fuzz: {len(cases)} cases (seed {a.seed}) in {total:.1f} s, slowest {slowest[0]:.2f} s "
          f"({slowest[1]}); exit statuses {dict(sorted(statuses.items(), key=str))}; "
          f"{len(failures)} failed")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
