//! Adam whose state the project owns, so that a run can checkpoint and resume it exactly
//! (dfdx's `Adam` keeps its moments private). The update itself is dfdx's Adam kernel:
//! m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − lr · m̂ / (sqrt(v̂) + ε), with the
//! bias corrections m̂ = m / (1 − β1ᵗ), v̂ = v / (1 − β2ᵗ).

use crate::config::AdamSettings;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
};
use dfdx::prelude::*;

/// Adam with public, serialisable state.
#[derive(Clone, Debug)]
pub struct OwnedAdam {
    pub cfg: AdamConfig,
    /// Number of updates done so far.
    pub t: i32,
    moment1: Gradients<f32, Cpu>,
    moment2: Gradients<f32, Cpu>,
}

/// The moments in the order the model's tensors are visited, with the step count.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState {
    pub t: i32,
    pub moment1: Vec<Vec<f32>>,
    pub moment2: Vec<Vec<f32>>,
}

impl OwnedAdam {
    pub fn new(settings: &AdamSettings) -> Self {
        Self {
            cfg: AdamConfig {
                lr: settings.lr as f64,
                betas: [settings.beta1 as f64, settings.beta2 as f64],
                eps: settings.eps as f64,
                weight_decay: None,
            },
            t: 0,
            moment1: Gradients::leaky(),
            moment2: Gradients::leaky(),
        }
    }

    /// One Adam step on every trainable tensor of `model`, with gradients from `grads`
    /// (allocated by `model.alloc_grads()`, so every parameter has an entry).
    pub fn update<M: TensorCollection<f32, Cpu>>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, Cpu>,
    ) {
        self.t += 1;
        let mut visitor = Step { opt: self, grads };
        M::iter_tensors(&mut RecursiveWalker {
            m: model,
            f: &mut visitor,
        })
        .expect("CPU Adam cannot fail");
    }

    /// The optimiser state, for a checkpoint.
    pub fn state<M: TensorCollection<f32, Cpu>>(&mut self, model: &mut M) -> AdamState {
        let (mut moment1, mut moment2) = (Vec::new(), Vec::new());
        crate::params::for_each(&*model, |p| {
            if p.trainable() {
                moment1.push(p.grad_mut(&mut self.moment1).clone());
                moment2.push(p.grad_mut(&mut self.moment2).clone());
            }
        });
        AdamState {
            t: self.t,
            moment1,
            moment2,
        }
    }

    /// Restores a state saved by [`OwnedAdam::state`] for the same model type.
    ///
    /// # Errors
    /// When the state's tensor count or a tensor's length differs from the model's.
    pub fn set_state<M: TensorCollection<f32, Cpu>>(
        &mut self,
        model: &mut M,
        state: &AdamState,
    ) -> Result<(), String> {
        self.t = state.t;
        let (mut index, mut error) = (0, None);
        crate::params::for_each_mut(model, |p| {
            if !p.trainable() || error.is_some() {
                return;
            }
            let i = index;
            index += 1;
            let (Some(a), Some(b)) = (state.moment1.get(i), state.moment2.get(i)) else {
                error = Some(format!(
                    "optimiser state has only {} tensors",
                    state.moment1.len()
                ));
                return;
            };
            if p.len() != a.len() || b.len() != a.len() {
                error = Some(format!(
                    "optimiser tensor {i}: {} values, the model has {}",
                    a.len(),
                    p.len()
                ));
                return;
            }
            p.grad_mut(&mut self.moment1).copy_from_slice(a);
            p.grad_mut(&mut self.moment2).copy_from_slice(b);
        });
        if let Some(e) = error {
            return Err(e);
        }
        if index != state.moment1.len() {
            return Err(format!(
                "optimiser state has {} tensors, the model {}",
                state.moment1.len(),
                index
            ));
        }
        Ok(())
    }
}

struct Step<'a> {
    opt: &'a mut OwnedAdam,
    grads: &'a mut Gradients<f32, Cpu>,
}

impl TensorVisitor<f32, Cpu> for Step<'_> {
    type Viewer = ViewTensorMut;
    type Err = <Cpu as HasErr>::Err;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        p: &mut Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        if opts.do_gradient_update {
            let g = self.grads.get_or_alloc_mut(p)?;
            let m = self.opt.moment1.get_or_alloc_mut(p)?;
            let v = self.opt.moment2.get_or_alloc_mut(p)?;
            self.opt.cfg.try_update(self.opt.t, p, m, v, g)?;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two hand-computed Adam steps on f(p) = Σ p²/2 (gradient g = p), lr 0.1, β = (0.5, 0.999).
    /// Step 1: m = 0.5·g, v = 0.001·g², m̂ = g, v̂ = g², p ← p − 0.1·g/(|g| + 1e-8) = p − 0.1·sign(p).
    #[test]
    fn matches_hand_computed_steps() {
        let dev: Cpu = Default::default();
        let mut p: Tensor<Rank1<2>, f32, Cpu> = dev.tensor([1.0, -2.0]);
        let mut opt = OwnedAdam::new(&AdamSettings {
            lr: 0.1,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
        });
        let mut grads = p.alloc_grads();
        let loss = (p.trace(grads).square() * 0.5).sum();
        grads = loss.backward();
        opt.update(&mut p, &mut grads);
        let v = p.as_vec();
        assert!(
            (v[0] - 0.9).abs() < 1e-6 && (v[1] + 1.9).abs() < 1e-6,
            "{v:?}"
        );
        // Step 2: g = (0.9, −1.9); m = 0.5·m + 0.5·g, v = 0.999·v + 0.001·g².
        let (m0, v0) = (
            0.5 * 0.5 * 1.0 + 0.5 * 0.9,
            0.999 * 0.001 * 1.0 + 0.001 * 0.81,
        );
        let want0 = 0.9 - 0.1 * (m0 / 0.75) / ((v0 / (1.0 - 0.999f64 * 0.999)).sqrt() + 1e-8);
        let mut grads = p.alloc_grads();
        let loss = (p.trace(grads).square() * 0.5).sum();
        grads = loss.backward();
        opt.update(&mut p, &mut grads);
        assert!((p.as_vec()[0] as f64 - want0).abs() < 1e-6);
        assert_eq!(opt.state(&mut p).t, 2);
    }

    #[test]
    fn state_round_trips() {
        let dev: Cpu = Default::default();
        let mut p: Tensor<Rank1<3>, f32, Cpu> = dev.tensor([1.0, -2.0, 0.5]);
        let mut opt = OwnedAdam::new(&AdamSettings {
            lr: 0.1,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
        });
        let mut grads = p.alloc_grads();
        grads = (p.trace(grads).square()).sum().backward();
        opt.update(&mut p, &mut grads);
        let state = opt.state(&mut p);
        let mut fresh = OwnedAdam::new(&AdamSettings {
            lr: 0.1,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
        });
        fresh.set_state(&mut p, &state).unwrap();
        assert_eq!(fresh.state(&mut p), state);
        // The restored state is the one `update` uses: one more identical step from the
        // original and from the restored optimiser gives bit-identical parameters.
        // Control: a fresh optimiser (t = 0, zero moments) takes a different second step.
        let mut q = p.clone();
        let mut r = p.clone();
        let step = |o: &mut OwnedAdam, x: &mut Tensor<Rank1<3>, f32, Cpu>| {
            let mut g = x.alloc_grads();
            g = (x.trace(g).square()).sum().backward();
            o.update(x, &mut g);
        };
        step(&mut opt, &mut q);
        step(&mut fresh, &mut r);
        assert_eq!(q.as_vec(), r.as_vec());
        let mut s = p.clone();
        let mut cold = OwnedAdam::new(&AdamSettings {
            lr: 0.1,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
        });
        step(&mut cold, &mut s);
        assert_ne!(s.as_vec(), q.as_vec());
    }
}

/// Adam over a flat parameter vector (the hand-written training steps' parameters): the
/// update count and the moments in the flat layout, the update one fused parallel pass
/// ([`crate::fast::adam_update`], equal to [`OwnedAdam`]'s dfdx kernel bit for bit). Its
/// [`AdamState`] splits the moments per tensor in dfdx's visiting order, so checkpoints are
/// those of [`OwnedAdam`] on the same model.
#[derive(Clone, Debug)]
pub struct FlatAdam {
    pub settings: AdamSettings,
    /// Number of updates done so far.
    pub t: i32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl FlatAdam {
    /// Zero moments for `n` parameters.
    pub fn new(settings: AdamSettings, n: usize) -> Self {
        Self {
            settings,
            t: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One Adam step at learning rate `lr` on `params` with gradient `grad` (same length).
    pub fn update(&mut self, lr: f32, params: &mut [f32], grad: &[f32]) {
        self.t += 1;
        crate::fast::adam_update(
            &self.settings,
            lr,
            self.t,
            params,
            grad,
            &mut self.m,
            &mut self.v,
        );
    }

    /// The state, one moment vector per tensor range of `tensors` (in visiting order).
    pub fn state(&self, tensors: &[std::ops::Range<usize>]) -> AdamState {
        let split = |v: &[f32]| -> Vec<Vec<f32>> {
            tensors.iter().map(|r| v[r.clone()].to_vec()).collect()
        };
        AdamState {
            t: self.t,
            moment1: split(&self.m),
            moment2: split(&self.v),
        }
    }

    /// Restores a state saved by [`FlatAdam::state`] (or [`OwnedAdam::state`] on the same
    /// model). Errors name `model` and the first tensor whose size disagrees.
    pub fn set_state(
        &mut self,
        tensors: &[std::ops::Range<usize>],
        state: &AdamState,
        model: &str,
    ) -> Result<(), String> {
        if state.moment1.len() != tensors.len() || state.moment2.len() != tensors.len() {
            return Err(format!(
                "optimiser state has {} tensors, the {model} {}",
                state.moment1.len(),
                tensors.len()
            ));
        }
        for (i, r) in tensors.iter().enumerate() {
            if state.moment1[i].len() != r.len() || state.moment2[i].len() != r.len() {
                return Err(format!(
                    "optimiser tensor {i}: {} values, the {model} has {}",
                    state.moment1[i].len(),
                    r.len()
                ));
            }
            self.m[r.clone()].copy_from_slice(&state.moment1[i]);
            self.v[r.clone()].copy_from_slice(&state.moment2[i]);
        }
        self.t = state.t;
        Ok(())
    }
}
