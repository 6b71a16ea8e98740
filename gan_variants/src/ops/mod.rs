//! Custom differentiable operations the image models need and stable dfdx lacks: convolution
//! and transposed convolution ([`conv`]), their matmul through a faster gemm ([`matmul`]),
//! LeakyReLU ([`activation`]), and input gradients as forward operations for gradient
//! penalties ([`input_grad`]).

pub mod activation;
pub mod conv;
pub mod input_grad;
pub mod matmul;
