//! Generator/discriminator harness for the MNIST grid experiments of the EBGAN paper
//! (Table 1, Figures 2–4 and 9): GAN, EBGAN and EBGAN-PT on one fully connected family, each
//! variant only its losses and step schedule. A skeleton until its issue (#2) is worked on;
//! like `ladder`, it will hold models, losses and steps and never touch files.
