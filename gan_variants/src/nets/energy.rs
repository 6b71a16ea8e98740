//! The energy network U_θ of the energy view of GANs (spec energy-gan-mcmc.md, "Model"): the
//! fully connected family without batch norm (a per-sample gradient penalty needs samples that
//! do not interact through batch statistics), LeakyReLU 0.2 between layers, one unbounded
//! scalar output. [`EnergyMlp::energy_and_input_grad`] writes ∇ₓU as forward operations
//! ([`crate::ops::input_grad`]), so the gradient penalty λ₁·mean ‖∇ₓU(x)‖² is an ordinary
//! differentiable expression of θ.

use super::{Dropout, Net, NetState, Trainable};
use crate::config::{Optim, TrainSettings};
use crate::ops::activation::leaky_relu;
use crate::ops::input_grad::{dense_transpose, leaky_mask};
use crate::shapes::{Matrix, Rows, Traced};
use dfdx::nn::modules::Linear;
use dfdx::prelude::{Repeated, *};
use rand::{rngs::StdRng, Rng};

/// The LeakyReLU slope of the energy network.
pub const ENERGY_SLOPE: f32 = 0.2;

/// One value per row.
pub type Column<T = NoneTape> = Tensor<(usize,), f32, Cpu, T>;

/// U: I → W → H × (W → W) → 1.
#[derive(Clone, Debug)]
pub struct EnergyMlp<
    const I: usize,
    const W: usize,
    const H: usize,
    E: Dtype = f32,
    D: Device<E> = Cpu,
> {
    pub input: Linear<I, W, E, D>,
    pub hidden: Repeated<Linear<W, W, E, D>, H>,
    pub output: Linear<W, 1, E, D>,
}

impl<const I: usize, const W: usize, const H: usize, D: Device<f32>> TensorCollection<f32, D>
    for EnergyMlp<I, W, H, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = EnergyMlp<I, W, H, E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("input", |s| &s.input, |s| &mut s.input),
                Self::module("hidden", |s| &s.hidden, |s| &mut s.hidden),
                Self::module("output", |s| &s.output, |s| &mut s.output),
            ),
            |(input, hidden, output)| EnergyMlp {
                input,
                hidden,
                output,
            },
        )
    }
}

impl<const I: usize, const W: usize, const H: usize> EnergyMlp<I, W, H> {
    /// U(x) per row, shape (n,).
    pub fn energy<T: Tape<f32, Cpu>>(&self, x: Rows<I, T>) -> Column<T> {
        let n = x.shape().0;
        self.run(x).0.reshape_like(&(n,))
    }

    /// U(x) as (n, 1) and the last hidden activation (n, W) as the code (empty tape).
    pub fn run<T: Tape<f32, Cpu>>(&self, x: Rows<I, T>) -> (Rows<1, T>, Matrix<T>) {
        let mut h = leaky_relu(self.input.forward(x), ENERGY_SLOPE);
        for layer in &self.hidden.modules {
            h = leaky_relu(layer.forward(h), ENERGY_SLOPE);
        }
        let n = h.shape().0;
        let code = h.with_empty_tape().reshape_like(&(n, W));
        (self.output.forward(h), code)
    }

    /// U(x) per row and ∇ₓU(x) (n, I), the latter as forward operations on the traced weights:
    /// g = w_out, then g ← (g ⊙ a'(pre_l))·W_l down the layers, with the LeakyReLU masks of this
    /// forward pass as constants. Both carry tapes; ‖∇ₓU‖² built from the second is
    /// differentiable in θ (not in x: the masks are constants, and the input's own gradient is
    /// not needed by a penalty at data points).
    pub fn energy_and_input_grad<T>(&self, x: Rows<I, T>) -> (Column<T>, Rows<I, T>)
    where
        T: Tape<f32, Cpu> + Merge<T>,
    {
        let (u, _, g) = self.energy_code_and_input_grad(x);
        (u, g)
    }

    /// [`EnergyMlp::energy_and_input_grad`] with the last hidden activation (n, W) as a code
    /// (empty tape), as [`EnergyMlp::run`] gives it.
    pub fn energy_code_and_input_grad<T>(&self, x: Rows<I, T>) -> (Column<T>, Matrix<T>, Rows<I, T>)
    where
        T: Tape<f32, Cpu> + Merge<T>,
    {
        let n = x.shape().0;
        let pre = self.input.forward(x);
        let mut masks = vec![leaky_mask(&pre, ENERGY_SLOPE)];
        let mut h = leaky_relu(pre, ENERGY_SLOPE);
        for layer in &self.hidden.modules {
            let pre = layer.forward(h);
            masks.push(leaky_mask(&pre, ENERGY_SLOPE));
            h = leaky_relu(pre, ENERGY_SLOPE);
        }
        let code = h.with_empty_tape().reshape_like(&(n, W));
        let u = self.output.forward(h).reshape_like(&(n,));
        // g_L: the output layer's weights (1, W) for every row.
        let mut g: Rows<W, T> = self
            .output
            .weight
            .retaped::<T>()
            .reshape::<Rank1<W>>()
            .broadcast_like(&(n, Const::<W>));
        let mut masks = masks.into_iter().rev();
        for layer in self.hidden.modules.iter().rev() {
            let m = masks.next().expect("one mask per layer");
            g = dense_transpose(g * m, &layer.weight);
        }
        let m = masks.next().expect("one mask per layer");
        (u, code, dense_transpose(g * m, &self.input.weight))
    }
}

/// U with Glorot-uniform weights, U(±√(6 / (fan_in + fan_out))) (Keras's default, which the
/// seed post's code used), and zero biases, drawn from `rng`.
pub fn energy_mlp<const I: usize, const W: usize, const H: usize>(
    dev: &Cpu,
    rng: &mut StdRng,
) -> EnergyMlp<I, W, H> {
    let mut u = EnergyMlp::<I, W, H>::build(dev);
    fn glorot<S: Shape>(
        t: &mut Tensor<S, f32, Cpu>,
        fan_in: usize,
        fan_out: usize,
        rng: &mut StdRng,
    ) {
        let a = (6.0 / (fan_in + fan_out) as f32).sqrt();
        let v: Vec<f32> = (0..t.shape().num_elements())
            .map(|_| rng.gen_range(-a..a))
            .collect();
        t.copy_from(&v);
    }
    glorot(&mut u.input.weight, I, W, rng);
    u.input.bias.fill_with_zeros();
    for l in u.hidden.modules.iter_mut() {
        glorot(&mut l.weight, W, W, rng);
        l.bias.fill_with_zeros();
    }
    glorot(&mut u.output.weight, W, 1, rng);
    u.output.bias.fill_with_zeros();
    u
}

impl<const I: usize, const W: usize, const H: usize> Net<I, 1> for Trainable<EnergyMlp<I, W, H>> {
    /// U as (n, 1); no batch norm, so `segments` is unused; no dropout.
    fn forward(
        &self,
        x: Rows<I, Traced>,
        _segments: &[usize],
        _drop: Option<Dropout<'_>>,
    ) -> (Rows<1, Traced>, Matrix<Traced>) {
        self.net.run(x)
    }
    fn forward_untraced(&self, x: Rows<I>, _segments: &[usize]) -> Rows<1> {
        self.net.run(x).0
    }
    fn forward_with_input_grad(
        &self,
        x: Rows<I, Traced>,
        _segments: &[usize],
    ) -> Option<(Rows<1, Traced>, Matrix<Traced>, Rows<I, Traced>)> {
        let n = x.shape().0;
        let (u, code, g) = self.net.energy_code_and_input_grad(x);
        Some((u.reshape_like(&(n, Const::<1>)), code, g))
    }
    /// No batch norm: no statistics.
    fn batch_stats(&self, _x: Rows<I>) -> Vec<super::ColumnStats> {
        Vec::new()
    }
    /// No batch norm: the training pass.
    fn forward_population(
        &self,
        x: Rows<I, Traced>,
        _stats: &[super::ColumnStats],
    ) -> Rows<1, Traced> {
        self.net.run(x).0
    }
    fn alloc_grads(&self) -> Gradients<f32, Cpu> {
        self.net.alloc_grads()
    }
    fn update(&mut self, grads: &mut Gradients<f32, Cpu>) {
        self.step(grads);
    }
    fn zero_grads(&self, grads: &mut Gradients<f32, Cpu>) {
        self.net.zero_grads(grads);
    }
    fn num_params(&self) -> usize {
        self.net.num_trainable_params()
    }
    fn layer_stats(&self) -> Vec<(f64, f64)> {
        use super::layer_weight_stats as stats;
        let n = &self.net;
        let mut out = vec![stats(n.input.weight.as_vec(), n.input.bias.as_vec())];
        for l in n.hidden.modules.iter() {
            out.push(stats(l.weight.as_vec(), l.bias.as_vec()));
        }
        out.push(stats(n.output.weight.as_vec(), n.output.bias.as_vec()));
        out
    }
    fn state(&mut self) -> Result<NetState, String> {
        Trainable::state(self)
    }
    fn set_state(&mut self, state: &NetState) -> Result<(), String> {
        Trainable::set_state(self, state)
    }
}

/// The energy network I → `n_layer` − 1 LeakyReLU layers of width `width` → 1, with its
/// optimiser, behind the harness's [`Net`] interface. Widths: [`crate::config::D_WIDTHS`];
/// 2 to 4 weight layers.
pub fn build_energy<const I: usize>(
    dev: &Cpu,
    n_layer: usize,
    width: usize,
    optim: Optim,
    lr: f32,
    train: &TrainSettings,
    rng: &mut StdRng,
) -> Result<Box<dyn Net<I, 1>>, String> {
    fn boxed<const I: usize, const W: usize, const H: usize>(
        dev: &Cpu,
        optim: Optim,
        lr: f32,
        train: &TrainSettings,
        rng: &mut StdRng,
    ) -> Box<dyn Net<I, 1>> {
        Box::new(Trainable::new(
            energy_mlp::<I, W, H>(dev, rng),
            optim,
            lr,
            train,
        ))
    }
    macro_rules! widths {
        ($($w:literal),+) => {
            match (width, n_layer.checked_sub(2)) {
                $(
                    ($w, Some(0)) => Ok(boxed::<I, $w, 0>(dev, optim, lr, train, rng)),
                    ($w, Some(1)) => Ok(boxed::<I, $w, 1>(dev, optim, lr, train, rng)),
                    ($w, Some(2)) => Ok(boxed::<I, $w, 2>(dev, optim, lr, train, rng)),
                )+
                _ => Err(format!(
                    "no compiled energy network with {n_layer} layers of width {width} (2–4 layers of width 128, 256, 512 or 1024)"
                )),
            }
        };
    }
    widths!(128, 256, 512, 1024)
}

/// ‖g‖² per row of an input gradient.
pub fn squared_norms<const I: usize, T: Tape<f32, Cpu>>(g: Rows<I, T>) -> Column<T> {
    g.square().sum::<(usize,), Axis<1>>()
}
