//! Custom differentiable operations the image models need and stable dfdx lacks: convolution
//! and transposed convolution ([`conv`]), LeakyReLU ([`activation`]).

pub mod activation;
pub mod conv;
