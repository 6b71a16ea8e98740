//! Custom differentiable operations the image models need and stable dfdx lacks: convolution
//! and transposed convolution ([`conv`]), their matmul through a faster gemm ([`matmul`]),
//! LeakyReLU ([`activation`]).

pub mod activation;
pub mod conv;
pub mod matmul;
