"""Writes the TorchScript modules the TorchField tests load (torch.jit.script(m).save(path)).

Usage: make_test_modules.py OUTPUT_DIR. Each module is saved in float64; TorchField converts it
to float32 where a test asks for that. Seeded, so the files are the same on every run.
"""
import os
import sys

import torch
from torch import nn


class Mlp(nn.Module):
    """f(t, y) = the 2 -> 16 -> 16 -> 2 tanh MLP, written as revode's Mlp is (tests compare)."""

    def __init__(self):
        super().__init__()
        self.state_dim = 2
        self.net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                                 nn.Linear(16, 2))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


class ReferenceMlp(nn.Module):
    """The reference field of the README, 2 -> 64 -> 64 -> 2 tanh (bench/torch_field_bench.cpp)."""

    def __init__(self):
        super().__init__()
        self.state_dim = 2
        self.net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                                 nn.Linear(64, 2))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


class TimeField(nn.Module):
    """Depends on t and on every parameter but `unused` (whose gradient must stay zero)."""

    def __init__(self):
        super().__init__()
        self.state_dim = 3
        self.net = nn.Sequential(nn.Linear(3, 8), nn.Softplus(), nn.Linear(8, 3))
        self.scale = nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
        self.unused = nn.Parameter(torch.ones(2))
        self.register_buffer("shift", torch.tensor([0.1, 0.2, 0.3]))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y) * torch.cos(t) + t * self.scale * y * y + self.shift


class NoStateDim(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -self.w * y


class WrongShape(nn.Module):
    def __init__(self):
        super().__init__()
        self.state_dim = 2

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y[:, :1]


class WrongDtype(nn.Module):
    def __init__(self):
        super().__init__()
        self.state_dim = 2

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y.to(torch.float16)


class NonFinite(nn.Module):
    def __init__(self):
        super().__init__()
        self.state_dim = 2

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y / torch.zeros_like(y)


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.state_dim = 2

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y.mul_(2.0)


class Raises(nn.Module):
    def __init__(self):
        super().__init__()
        self.state_dim = 2

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if bool(t > 0.5):
            raise RuntimeError("deliberate failure for t > 0.5")
        return y


class ReturnsTuple(nn.Module):
    def __init__(self):
        super().__init__()
        self.state_dim = 2

    def forward(self, t: torch.Tensor, y: torch.Tensor):
        return y, y


class OneArgument(nn.Module):
    def __init__(self):
        super().__init__()
        self.state_dim = 2

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y


class NoForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.state_dim = 2

    @torch.jit.export
    def other(self, y: torch.Tensor) -> torch.Tensor:
        return y


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    modules = {"mlp": Mlp(), "reference_mlp": ReferenceMlp(), "time_field": TimeField(), "no_state_dim": NoStateDim(),
               "wrong_shape": WrongShape(), "wrong_dtype": WrongDtype(),
               "non_finite": NonFinite(), "in_place": InPlace(),
               "raises": Raises(), "returns_tuple": ReturnsTuple(),
               "one_argument": OneArgument(), "no_forward": NoForward()}
    for name, module in modules.items():
        torch.jit.script(module.double()).save(os.path.join(out, name + ".pt"))
    with open(os.path.join(out, "not_torchscript.pt"), "w") as f:
        f.write("not a TorchScript archive\n")


if __name__ == "__main__":
    main()
