//! Custom differentiable operations the image models need and stable dfdx lacks: convolution
//! and transposed convolution ([`conv`]).

pub mod conv;
