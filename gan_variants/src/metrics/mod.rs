//! Sample-quality metrics of the image experiments on the project's own feature networks:
//! FID and KID ([`fid`]).

pub mod fid;
