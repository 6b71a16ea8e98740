//! Custom differentiable operations the image models need and stable dfdx lacks: convolution
//! and transposed convolution ([`conv`]), their matmul through a faster gemm ([`matmul`]),
//! LeakyReLU ([`activation`]), and input gradients as forward operations for gradient
//! penalties ([`input_grad`]); EDGAN's conditional entropy distance ([`ced`]) and spectral normalisation
//! ([`spectral_norm`]).

pub mod activation;
pub mod ced;
pub mod conv;
pub mod input_grad;
pub mod matmul;
pub mod spectral_norm;
