//! Sample-quality metrics of the image experiments on the project's own feature networks:
//! FID and KID ([`fid`]) on the features of [`feature_net`] ("FID-cifar-cnn").

pub mod feature_net;
pub mod fid;
