# LN vs EBGAN-LN (Zhao, Mathieu & LeCun 2017, Table 2) and the rest of the suite.
#
#   make table2 [PROFILE=quick|medium|paper|smoke] [JOBS=2 THREADS=1]   every run, then the table
#   make tuning [TUNE_PROFILE=quick ...]               validation runs behind a profile's settings
#   make figures                                      re-plot every figure from the CSV files
#   make test                                         the test suite (release build)
#   make data [MNIST_DIR=...]                         link the MNIST files into data/mnist
#   make bench                                        ms per step, LN and EBGAN-LN
#   make bench-peers                                  the same steps in JAX (jit), interleaved
#                                                     with `ebgan bench`, on this machine
#   make gans [PROFILE=paper|quick|smoke]             the MNIST GAN/EBGAN experiments (gans.toml):
#     make grid | margins | named | parzen | gan-figures   (their parts, in that order)
#   make classifier                                   the MNIST classifier that scores samples
#   make faces [PROFILE=quick|paper|smoke]            DCGAN vs EBGAN vs EBGAN-PT on faces, margin
#     make features | face-runs | face-table            sweep, FID/KID table (configs/images.toml)
#   make energy [PROFILE=quick|paper|smoke]           energy GAN with/without the MI term, then
#                                                     Langevin/MALA in z (configs/energy.toml)
#   make edgan [PROFILE=quick|paper|smoke]            EDGAN on CIFAR-10: the paper's ablations and
#                                                     peers, Tables 1, 3-6 (configs/edgan.toml)
#
# Each run is its own target (its final.csv), so the table runs JOBS at a time, finished runs
# are skipped, and an interrupted table resumes (a run resumes from its last checkpoint).

# The quick profile unless asked: the paper table is about 85 hours of this machine (README, Performance).
PROFILE ?= quick
BIN := target/release/ebgan
# Runs at a time (JOBS) and threads per run (THREADS, i.e. RAYON_NUM_THREADS). On this 2-core
# machine two one-thread runs at once and one two-thread run finish the same runs per hour
# (49.7 and 50.6 of the quick protocol's LN/EBGAN-LN mix, 8c4fe79; results/bench/runs_per_hour.csv),
# so either serves; the default keeps two. On a bigger machine set e.g. JOBS=8 THREADS=2. An
# empty THREADS leaves rayon's default (all cores).
JOBS ?= 2
THREADS ?= 1
MNIST_DIR ?= $(firstword $(wildcard data/mnist) $(wildcard ../shared/data/mnist) data/mnist)
export MNIST_DIR

MODELS := ln ln-matched ebgan-ln
LABELS := 100 200 1000
SEEDS_paper := 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
SEEDS_quick := $(SEEDS_paper)
SEEDS_medium := $(SEEDS_paper)
SEEDS_smoke := 1 2
SEEDS ?= $(SEEDS_$(PROFILE))

# Ordered by labels, then seed, then model, so that finished pairs arrive early.
# Where runs and tables go: RESULTS=../my-results make table2 reproduces the table from scratch
# in another folder (the committed results/ stays as it is).
RESULTS ?= results
# Checkpoints: every CHECKPOINT_MINUTES minutes and every CHECKPOINT_STEPS steps (0: by time
# only). Ctrl-C or SIGTERM also checkpoints; `make table2` again resumes every run.
CHECKPOINT_MINUTES ?= 5
CHECKPOINT_STEPS ?= 1000
# ALLOW_PARTIAL=1: let a table with fewer finished runs replace the one already written.
ALLOW_PARTIAL ?=
RUNS := $(foreach l,$(LABELS),$(foreach s,$(SEEDS),$(foreach m,$(MODELS),$(RESULTS)/runs/$(PROFILE)/$(m)/labels$(l)/seed$(s)/final.csv)))

# `make runs-per-hour`: the same four runs of RPH_PROFILE (default quick; LN and EBGAN-LN, 100
# labels, seeds 1 and 2)
# through a two-slot one-thread queue and a one-slot two-thread queue, into $(RPH_DIR); prints
# one CSV row per arrangement in the columns of results/bench/runs_per_hour.csv (run_seconds
# from each run's final.csv). Needs an otherwise idle machine.
RPH_DIR ?= scratch/runs-per-hour
RPH_RUNS := ln:1 ebgan-ln:1 ln:2 ebgan-ln:2
RPH_PROFILE ?= quick
# Repetition number written into the rows.
RPH_REP ?= 1

# `make tuning`: validation runs (last 10,000 training images held out, test set unread) over
# a grid of step and learning-rate scales of TUNE_PROFILE, into results/tuning/<profile>/, then
# their summary results/tuning/<profile>.{csv,md,png}. Step scales are written with 6 decimals
# (the folder tag's format).
TUNE_PROFILE ?= quick
TUNE_STEPS ?= 0.033333 0.016667
TUNE_LRS ?= 1 3 10
TUNE_MODELS ?= ln ebgan-ln
TUNE_LABELS ?= 100
TUNE_SEEDS ?= 1 2
TUNE_RUNS := $(foreach s,$(TUNE_SEEDS),$(foreach st,$(TUNE_STEPS),$(foreach lr,$(TUNE_LRS),$(foreach m,$(TUNE_MODELS),$(foreach l,$(TUNE_LABELS),results/tuning/$(TUNE_PROFILE)/steps$(st)_lr$(lr)_validation/$(m)/labels$(l)/seed$(s)/final.csv)))))

tuning: build
	-@$(MAKE) --no-print-directory -k -j$(JOBS) tuning-runs TUNE_PROFILE=$(TUNE_PROFILE) TUNE_STEPS="$(TUNE_STEPS)" TUNE_LRS="$(TUNE_LRS)" TUNE_MODELS="$(TUNE_MODELS)" TUNE_LABELS="$(TUNE_LABELS)" TUNE_SEEDS="$(TUNE_SEEDS)"
	$(BIN) tuning --profile $(TUNE_PROFILE)

tuning-runs: $(TUNE_RUNS)

# results/tuning/<profile>/steps<s>_lr<r>_validation/<model>/labels<n>/seed<k>/final.csv
results/tuning/%/final.csv: | build
	$(if $(THREADS),RAYON_NUM_THREADS=$(THREADS)) $(BIN) run --quiet --split validation \
	  --profile $(word 1,$(subst /, ,$*)) \
	  --step-scale $(patsubst steps%,%,$(word 1,$(subst _, ,$(word 2,$(subst /, ,$*))))) \
	  --lr-scale $(patsubst lr%,%,$(word 2,$(subst _, ,$(word 2,$(subst /, ,$*))))) \
	  --model $(word 3,$(subst /, ,$*)) \
	  --labels $(patsubst labels%,%,$(word 4,$(subst /, ,$*))) \
	  --seed $(patsubst seed%,%,$(word 5,$(subst /, ,$*)))

.PHONY: bench-peers edgan edgan-runs energy energy-runs features faces face-runs face-table data-fashion tuning tuning-runs runs-per-hour table2 runs figures test data bench build clean-scratch classifier gans grid margins named parzen gan-runs best-runs gan-figures

# A prebuilt binary (BIN=...) is used as it is, e.g. on a cluster or for a long background table.
build:
ifeq ($(BIN),target/release/ebgan)
	cargo build --release --locked
endif

# Every run (JOBS at a time, finished ones reused), then the table. Progress: `ebgan status`
# beside the runs (which are quiet) — on a terminal a bar per running run and one for the table,
# in a pipe or log one line every STATUS_EVERY seconds. Exits non-zero when a run failed (the
# table is still rebuilt from the runs that finished).
STATUS_EVERY ?= 60
table2: build
	@n=0; for f in $(RUNS); do [ -e $$f ] && n=$$((n+1)); done; \
	  echo "$$n of $(words $(RUNS)) runs of profile $(PROFILE) already finished under $(RESULTS)/runs, reused"
	@$(BIN) status --profile $(PROFILE) --results $(RESULTS) --jobs $(JOBS) --watch $(STATUS_EVERY) --labels $(LABELS) --seeds $(SEEDS) & watcher=$$!; \
	  trap 'kill $$watcher 2>/dev/null' EXIT; trap 'kill $$watcher 2>/dev/null; exit 130' INT TERM; \
	  status=0; $(MAKE) --no-print-directory -k -j$(JOBS) runs PROFILE=$(PROFILE) SEEDS="$(SEEDS)" RESULTS=$(RESULTS) || status=$$?; \
	  kill $$watcher 2>/dev/null; wait $$watcher 2>/dev/null; \
	  $(BIN) table2 --profile $(PROFILE) --results $(RESULTS) $(if $(ALLOW_PARTIAL),--allow-partial) || exit $$?; \
	  if [ $$status -ne 0 ]; then echo "some runs failed (see the errors above); the table holds the others" >&2; fi; \
	  exit $$status

runs: $(RUNS)

# <results>/runs/<profile>/<model>/labels<n>/seed<k>/final.csv
$(RESULTS)/runs/%/final.csv: | build
	@$(if $(THREADS),RAYON_NUM_THREADS=$(THREADS)) $(BIN) run --quiet --results $(RESULTS) \
	  --checkpoint-minutes $(CHECKPOINT_MINUTES) --checkpoint-steps $(CHECKPOINT_STEPS) \
	  --profile $(word 1,$(subst /, ,$*)) --model $(word 2,$(subst /, ,$*)) \
	  --labels $(patsubst labels%,%,$(word 3,$(subst /, ,$*))) \
	  --seed $(patsubst seed%,%,$(word 4,$(subst /, ,$*)))

figures: build
	$(BIN) plot

# Image experiments (configs/images.toml). CIFAR-10 trains the FID feature network; the faces
# are any folder of JPEG/PNG faces (CelebA's img_align_celeba/ here).
CIFAR_DIR ?= $(firstword $(wildcard data/cifar10) $(wildcard ../shared/data/cifar10) data/cifar10)
CELEBA_DIR ?= $(firstword $(wildcard data/celeba-10k) $(wildcard ../shared/data/celeba-10k) data/celeba-10k)
export CIFAR_DIR CELEBA_DIR

# The FID-cifar-cnn network (about 1–2 hours here; kept once trained).
features: build
	$(if $(THREADS),RAYON_NUM_THREADS=$(THREADS)) $(BIN) images features --results $(RESULTS)

# Every face run of PROFILE (JOBS at a time; finished runs kept, interrupted ones resumed), then
# the table. Exits non-zero when a run failed (the table still holds the others).
faces: features
	@status=0; $(MAKE) --no-print-directory face-runs || status=$$?; \
	  $(MAKE) --no-print-directory face-table || exit $$?; exit $$status

face-runs: | build
	$(BIN) images jobs --profile $(PROFILE) --results $(RESULTS) --bin $(BIN) \
	  | xargs -P $(JOBS) -I{} sh -c '$(if $(THREADS),RAYON_NUM_THREADS=$(THREADS)) {}'

face-table: | build
	$(BIN) images table --profile $(PROFILE) --results $(RESULTS)

test:
	cargo test --release --workspace --locked

bench: build
	$(BIN) bench

# `make bench-peers`: PEER_ROUNDS interleaved rounds of `ebgan bench --only ln,ebgan` (rows in
# <dated folder>/<commit>_ebgan+ln.csv) and the same LN and EBGAN-LN steps in JAX compiled with jit
# (results/bench/peers/jax_step.py; rows appended to $(PEERS_CSV)). JAX is installed from PyPI
# into $(PEERS_VENV). Needs an otherwise idle machine.
PEERS_VENV ?= target/peers-venv
PEERS_JAX ?= 0.10.2
PEER_ROUNDS ?= 3
PEERS_CSV ?= $(RESULTS)/bench/$(shell date +%F)/peers.csv
bench-peers: build
	test -x $(PEERS_VENV)/bin/python || python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install -q "jax[cpu]==$(PEERS_JAX)"
	mkdir -p $(dir $(PEERS_CSV))
	@set -e; for i in $$(seq $(PEER_ROUNDS)); do \
	  echo "round $$i of $(PEER_ROUNDS)"; \
	  $(BIN) bench --only ln,ebgan --out $(dir $(PEERS_CSV)); \
	  $(PEERS_VENV)/bin/python results/bench/peers/jax_step.py > $(PEERS_CSV).part; \
	  if [ -s $(PEERS_CSV) ]; then tail -n +2 $(PEERS_CSV).part >> $(PEERS_CSV); \
	  else cp $(PEERS_CSV).part $(PEERS_CSV); fi; rm -f $(PEERS_CSV).part; \
	  tail -n 2 $(PEERS_CSV); \
	done

runs-per-hour: build
	@set -e; for arr in 2:1 1:2; do \
	  jobs=$${arr%:*}; threads=$${arr#*:}; out=$(RPH_DIR)/j$${jobs}t$${threads}; rm -rf $$out; \
	  start=$$(date +%s.%N); \
	  printf '%s\n' $(RPH_RUNS) | tr ':' ' ' | xargs -P $$jobs -L 1 sh -c \
	    "RAYON_NUM_THREADS=$$threads $(BIN) run --quiet --profile $(RPH_PROFILE) --labels 100 --model \$$0 --seed \$$1 --results $$out >&2" \
	    || { echo "runs-per-hour: a run failed" >&2; exit 1; }; \
	  wall=$$(awk "BEGIN { print $$(date +%s.%N) - $$start }"); \
	  secs=""; code=""; \
	  for r in $(RPH_RUNS); do \
	    f=$$out/runs/$(RPH_PROFILE)/$${r%:*}/labels100/seed$${r#*:}/final.csv; \
	    test -f $$f || { echo "runs-per-hour: $$f is missing" >&2; exit 1; }; \
	    secs="$$secs$${secs:+;}$$(tail -1 $$f | cut -d, -f7 | xargs printf '%.0f')"; code=$$(tail -1 $$f | cut -d, -f9); \
	  done; \
	  printf 'j%s_threads%s,$(RPH_REP),4,%.1f,%.1f,%s,$(RPH_PROFILE),ln;ebgan-ln;ln;ebgan-ln,100,1;1;2;2,%s\n' \
	    $$jobs $$threads $$wall $$(awk "BEGIN { print 4 * 3600 / $$wall }") "$$secs" $$code; \
	done

MNIST_FILES := train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte
# `make data-fashion`: Fashion-MNIST from Debian's package (the image loaders read it from
# /usr/share/datasets/fashion-mnist, or FASHION_MNIST_DIR).
data-fashion:
	@test -d /usr/share/datasets/fashion-mnist || apt-get install -y dataset-fashion-mnist

# `make data`: with MNIST_DIR pointing at a local copy, link it into data/mnist; otherwise
# download the four files from public mirrors into data/mnist (`ebgan data fetch`: SHA-256 of
# the content verified before use, broken downloads resumed, corrupt ones fetched again).
data: build
	@if [ "$(origin MNIST_DIR)" != file ] && [ ! -d "$(MNIST_DIR)" ]; then \
	  echo "MNIST_DIR=$(MNIST_DIR) is not a folder: point it at the four MNIST files, or unset it to download them"; exit 1; fi
	@if [ -d "$(MNIST_DIR)" ] && [ "$(abspath $(MNIST_DIR))" != "$(abspath data/mnist)" ]; then \
	  mkdir -p data/mnist; \
	  for f in $(MNIST_FILES); do \
	    if [ -e "$(MNIST_DIR)/$$f.gz" ]; then ln -sf "$(abspath $(MNIST_DIR))/$$f.gz" data/mnist/; \
	    elif [ -e "$(MNIST_DIR)/$$f" ]; then ln -sf "$(abspath $(MNIST_DIR))/$$f" data/mnist/; \
	    else echo "missing $(MNIST_DIR)/$$f(.gz)"; exit 1; fi; done; \
	  echo "linked MNIST from $(MNIST_DIR) into data/mnist"; \
	else $(BIN) data fetch --dir data/mnist; fi

# --- The MNIST grid experiments (gan_variants; configs/gans.toml) -------------------------------
# `make grid` runs the profile's subsample of Table 1 (PROFILE=paper: all 6,656 configurations),
# `make margins` Figure 9's margin sweep, `make named` the paper's best three (Figure 4), each
# configuration its own target results/gans/<profile>/<id>/final.csv, so -j N and resuming work
# as for the table. `make parzen` reruns the best GAN and EBGAN of the finished grid (and that
# EBGAN with PT) with samples and the Parzen estimate into results/gans_best/<profile>/;
# `make gan-figures` draws every table and figure from the CSV files.
CLASSIFIER := results/classifier/mnist-classifier.safetensors

classifier: $(CLASSIFIER)

$(CLASSIFIER): | build
	$(BIN) gan classifier --out $@

grid margins named: build $(CLASSIFIER)
	-@$(MAKE) --no-print-directory -k -j$(JOBS) gan-runs PROFILE=$(PROFILE) \
	  GAN_IDS="$$($(BIN) gan list --profile $(PROFILE) --set $@)" \
	  GAN_FLAGS="$(if $(filter grid,$@),,--samples)"

gan-runs: $(foreach id,$(GAN_IDS),results/gans/$(PROFILE)/$(id)/final.csv)

# results/gans/<profile>/<id>/final.csv
results/gans/%/final.csv: | build
	$(if $(THREADS),RAYON_NUM_THREADS=$(THREADS)) $(BIN) gan run --quiet \
	  --profile $(word 1,$(subst /, ,$*)) --id $(word 2,$(subst /, ,$*)) $(GAN_FLAGS)

parzen: build $(CLASSIFIER)
	-@$(MAKE) --no-print-directory -k -j$(JOBS) best-runs PROFILE=$(PROFILE) \
	  GAN_IDS="$$($(BIN) gan list --profile $(PROFILE) --set best)"

best-runs: $(foreach id,$(GAN_IDS),results/gans_best/$(PROFILE)/$(id)/final.csv)

results/gans_best/%/final.csv: | build
	$(if $(THREADS),RAYON_NUM_THREADS=$(THREADS)) $(BIN) gan run --quiet --samples --parzen \
	  --profile $(word 1,$(subst /, ,$*)) --id $(word 2,$(subst /, ,$*)) --out-dir $(@D)

gan-figures: build
	$(BIN) gan figures --profile $(PROFILE)

gans:
	$(MAKE) --no-print-directory grid margins named
	$(MAKE) --no-print-directory parzen
	$(MAKE) --no-print-directory gan-figures

# The energy view of GANs (issue 18, spec energy-gan-mcmc.md): every (λ₂, seed) of the profile
# is its own target results/energy/<profile>/<id>/seed<S>/final.csv (seed-major), then the
# table and figures results/energy_<profile>.{md,csv} and energy_<profile>_*.png.
energy: build $(CLASSIFIER)
	-@$(MAKE) --no-print-directory -k -j$(JOBS) energy-runs \
	  ENERGY_RUNS="$$($(BIN) energy list --profile $(PROFILE))"
	$(BIN) energy table --profile $(PROFILE)

energy-runs: $(foreach r,$(ENERGY_RUNS),results/energy/$(r)/final.csv)

results/energy/%/final.csv: | build
	$(if $(THREADS),RAYON_NUM_THREADS=$(THREADS)) $(BIN) energy run --run $*

# EDGAN on CIFAR-10 (issue 19, spec conv-gans-edgan.md): every (arm, seed) of the profile is its
# own target results/edgan/<profile>/<arm>_s<seed>/final.csv (Table 6's arms first), then the
# real-vs-real floor at the profile's n's (results/edgan/<profile>/floor.csv), then the
# tables and figures results/edgan_<profile>.{md,csv} and edgan_<profile>_table<N>.png. Needs
# the FID network (results/features/cifar-cnn, committed; `make features` retrains it).
edgan: build
	-@$(MAKE) --no-print-directory -k -j$(JOBS) edgan-runs \
	  EDGAN_RUNS="$$($(BIN) edgan list --profile $(PROFILE))"
	$(MAKE) --no-print-directory results/edgan/$(PROFILE)/floor.csv
	$(BIN) edgan table --profile $(PROFILE)

results/edgan/%/floor.csv: configs/edgan.toml results/features/cifar-cnn/final.csv | build
	$(BIN) edgan floor --profile $*

edgan-runs: $(foreach r,$(EDGAN_RUNS),results/edgan/$(r)/final.csv)

results/edgan/%/final.csv: | build
	$(if $(THREADS),RAYON_NUM_THREADS=$(THREADS)) $(BIN) edgan run --run $*
