//! The energy network U_θ of the energy view of GANs (spec energy-gan-mcmc.md, "Model"): the
//! fully connected family without batch norm (a per-sample gradient penalty needs samples that
//! do not interact through batch statistics), LeakyReLU 0.2 between layers, one unbounded
//! scalar output. [`EnergyMlp::energy_and_input_grad`] writes ∇ₓU as forward operations
//! ([`crate::ops::input_grad`]), so the gradient penalty λ₁·mean ‖∇ₓU(x)‖² is an ordinary
//! differentiable expression of θ.

use crate::ops::activation::leaky_relu;
use crate::ops::input_grad::{dense_transpose, leaky_mask};
use crate::shapes::Rows;
use dfdx::nn::modules::Linear;
use dfdx::prelude::{Repeated, *};

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
        let mut h = leaky_relu(self.input.forward(x), ENERGY_SLOPE);
        for layer in &self.hidden.modules {
            h = leaky_relu(layer.forward(h), ENERGY_SLOPE);
        }
        let n = h.shape().0;
        self.output.forward(h).reshape_like(&(n,))
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
        let n = x.shape().0;
        let pre = self.input.forward(x);
        let mut masks = vec![leaky_mask(&pre, ENERGY_SLOPE)];
        let mut h = leaky_relu(pre, ENERGY_SLOPE);
        for layer in &self.hidden.modules {
            let pre = layer.forward(h);
            masks.push(leaky_mask(&pre, ENERGY_SLOPE));
            h = leaky_relu(pre, ENERGY_SLOPE);
        }
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
        (u, dense_transpose(g * m, &self.input.weight))
    }
}

/// ‖g‖² per row of an input gradient.
pub fn squared_norms<const I: usize, T: Tape<f32, Cpu>>(g: Rows<I, T>) -> Column<T> {
    g.square().sum::<(usize,), Axis<1>>()
}
