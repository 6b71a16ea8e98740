"""The LN and EBGAN-LN training steps of this suite, written in JAX and compiled with `jit`,
timed on this machine (issue 15's reference point: "a ladder step faster than JAX's").

The same work per step as `ebgan bench` times (ladder/src/fast.rs, ladder/src/generator.rs,
spec ladder-ebgan-ln.md): encoder 784-1000-500-250-250-250-10 without biases, batch norm
without affine parameters per row group (labeled, unlabeled, fake), noise std 0.3 on every
layer, β on every layer and γ on the softmax; the decoder (V matrices, "gauss" combinator with
10 vectors per layer, batch norm per decoded group) on the unlabeled and fake rows; the cost
CE + mean_real E + mean_fake [m − E]⁺ with E = (λ₀/784)·Σ(ẑ⁰ − x)²; Adam (β₁ = 0.5). The
EBGAN-LN step draws G(z) once (generator 100-800-800-800-800-784, BN + ReLU, sigmoid), takes
the D step on it, then back-propagates mean_fake E(G(z)) through the updated ladder and the same
G pass into G's parameters (jax.vjp), and updates G with Adam. Batch 100 per group.

Prints one CSV row per step kind: library, version, step, threads, median_ms, min_ms, max_ms.
Usage: python jax_step.py [--steps 30] [--warmup 5]
"""

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

WIDTHS = [784, 1000, 500, 250, 250, 250, 10]
G_WIDTHS = [100, 800, 800, 800, 800, 784]
B = 100
NOISE = 0.3
LAMBDA0 = 1000.0
EPS_BN = 1e-10


def init_ladder(key):
    p = {}
    keys = jax.random.split(key, 16)
    for l in range(1, 7):
        fan_in = WIDTHS[l - 1]
        p[f"W{l}"] = jax.random.normal(keys[l], (fan_in, WIDTHS[l])) / jnp.sqrt(fan_in)
        p[f"V{l}"] = jax.random.normal(keys[l + 6], (WIDTHS[l], WIDTHS[l - 1])) / jnp.sqrt(WIDTHS[l])
        p[f"beta{l}"] = jnp.zeros(WIDTHS[l])
    p["gamma6"] = jnp.ones(10)
    for l in range(7):
        a = jnp.zeros((10, WIDTHS[l]))
        p[f"a{l}"] = a.at[1].set(1.0).at[6].set(1.0)
    return p


def init_generator(key):
    g = {}
    keys = jax.random.split(key, 6)
    for l in range(5):
        fan_in = G_WIDTHS[l]
        bound = 1.0 / jnp.sqrt(fan_in)
        g[f"W{l}"] = jax.random.uniform(keys[l], (fan_in, G_WIDTHS[l + 1]), minval=-bound, maxval=bound)
        g[f"b{l}"] = jnp.zeros(G_WIDTHS[l + 1])
        if l < 4:
            g[f"scale{l}"] = jnp.ones(G_WIDTHS[l + 1])
            g[f"shift{l}"] = jnp.zeros(G_WIDTHS[l + 1])
    return g


def bn_groups(x, groups):
    """Batch norm without affine parameters, each row group with its own statistics."""
    n, w = x.shape
    xg = x.reshape(groups, n // groups, w)
    mean = xg.mean(axis=1, keepdims=True)
    var = ((xg - mean) ** 2).mean(axis=1, keepdims=True)
    return ((xg - mean) / jnp.sqrt(var + EPS_BN)).reshape(n, w)


def gauss(a, zt, u):
    mu = a[0] * jax.nn.sigmoid(a[1] * u + a[2]) + a[3] * u + a[4]
    v = a[5] * jax.nn.sigmoid(a[6] * u + a[7]) + a[8] * u + a[9]
    return (zt - mu) * v + mu


def ladder_energy_ce(p, x, targets, labels, labeled, decoded_groups, key):
    """Corrupted pass over x (rows: `labeled` labeled rows, then the decoded groups of B rows),
    decoder over the decoded rows. Returns (CE over the labeled rows, energies of the decoded rows)."""
    groups = x.shape[0] // B
    keys = jax.random.split(key, 7)
    h = x + NOISE * jax.random.normal(keys[0], x.shape)
    zts = [h]
    for l in range(1, 7):
        z = bn_groups(h @ p[f"W{l}"], groups) + NOISE * jax.random.normal(keys[l], (x.shape[0], WIDTHS[l]))
        zts.append(z)
        if l < 6:
            h = jax.nn.relu(z + p[f"beta{l}"])
        else:
            logits = p["gamma6"] * (z + p["beta6"])
    ce = 0.0
    if labeled:
        logp = jax.nn.log_softmax(logits[:labeled])
        ce = -jnp.take_along_axis(logp, labels[:, None], axis=1).mean()
    probs = jax.nn.softmax(logits[labeled:])
    u = bn_groups(probs, decoded_groups)
    zhat = gauss(p["a6"], zts[6][labeled:], u)
    for l in range(5, -1, -1):
        pre = zhat @ p[f"V{l + 1}"]
        u = bn_groups(pre, decoded_groups) if l > 0 else pre
        zhat = gauss(p[f"a{l}"], zts[l][labeled:], u)
    energy = LAMBDA0 / 784.0 * ((zhat - targets) ** 2).sum(axis=1)
    return ce, energy


def generator(g, z):
    h = z
    for l in range(4):
        a = h @ g[f"W{l}"] + g[f"b{l}"]
        mean = a.mean(axis=0)
        var = ((a - mean) ** 2).mean(axis=0)
        h = jax.nn.relu((a - mean) / jnp.sqrt(var + 1e-5) * g[f"scale{l}"] + g[f"shift{l}"])
    return jax.nn.sigmoid(h @ g["W4"] + g["b4"])


def adam(params, grads, state, lr, b1=0.5, b2=0.999, eps=1e-8):
    t, m, v = state
    t = t + 1
    m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    c1, c2 = 1 - b1**t, 1 - b2**t
    params = jax.tree.map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m, v)
    return params, (t, m, v)


def adam_state(params):
    zeros = jax.tree.map(jnp.zeros_like, params)
    return (0, zeros, jax.tree.map(jnp.zeros_like, params))


@jax.jit
def ln_step(p, opt, lx, ly, ux, key):
    def loss(p):
        ce, e = ladder_energy_ce(p, jnp.concatenate([lx, ux]), ux, ly, B, 1, key)
        return ce + e.mean()

    value, grads = jax.value_and_grad(loss)(p)
    p, opt = adam(p, grads, opt, 2e-4)
    return p, opt, value


@jax.jit
def ebgan_step(p, opt_d, g, opt_g, lx, ly, ux, key, margin):
    kz, kd, kg = jax.random.split(key, 3)
    z = jax.random.normal(kz, (B, 100))
    fakes, g_vjp = jax.vjp(lambda g: generator(g, z), g)

    def d_loss(p):
        x = jnp.concatenate([lx, ux, fakes])
        ce, e = ladder_energy_ce(p, x, jnp.concatenate([ux, fakes]), ly, B, 2, kd)
        return ce + e[:B].mean() + jax.nn.relu(margin - e[B:]).mean()

    value, grads = jax.value_and_grad(d_loss)(p)
    p, opt_d = adam(p, grads, opt_d, 5e-4)

    def g_loss(f):
        _, e = ladder_energy_ce(p, f, f, ly[:0], 0, 1, kg)
        return e.mean()

    g_value, df = jax.value_and_grad(g_loss)(fakes)
    (g_grads,) = g_vjp(df)
    g, opt_g = adam(g, g_grads, opt_g, 2.5e-4)
    return p, opt_d, g, opt_g, value + g_value


def timed(f, warmup, steps):
    for _ in range(warmup):
        jax.block_until_ready(f())
    ms = []
    for _ in range(steps):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        ms.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(ms), min(ms), max(ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    key = jax.random.PRNGKey(0)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    lx = jax.random.uniform(k1, (B, 784))
    ux = jax.random.uniform(k2, (B, 784))
    ly = jax.random.randint(k3, (B,), 0, 10)
    state = {"p": init_ladder(k4), "g": init_generator(k4), "t": 0}
    state["opt"] = adam_state(state["p"])
    state["opt_d"] = adam_state(state["p"])
    state["opt_g"] = adam_state(state["g"])

    def ln():
        state["t"] += 1
        state["p"], state["opt"], v = ln_step(state["p"], state["opt"], lx, ly, ux, jax.random.fold_in(key, state["t"]))
        return v

    def ebgan():
        state["t"] += 1
        out = ebgan_step(state["p"], state["opt_d"], state["g"], state["opt_g"], lx, ly, ux,
                         jax.random.fold_in(key, state["t"]), 16.0)
        state["p"], state["opt_d"], state["g"], state["opt_g"], v = out
        return v

    threads = os.cpu_count()
    print("library,version,step,threads,median_ms,min_ms,max_ms")
    for name, f in [("ln", ln), ("ebgan_ln", ebgan)]:
        med, lo, hi = timed(f, args.warmup, args.steps)
        # Sanity: the step trains (a finite loss) — stderr, so the CSV stays clean.
        print(f"# {name}: loss after {args.warmup + args.steps} steps {float(f()):.4f}", file=sys.stderr)
        print(f"jax-jit,{jax.__version__},{name},{threads},{med:.2f},{lo:.2f},{hi:.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
