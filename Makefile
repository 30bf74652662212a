# Top-level Makefile: one entry point for students and for CI.
#
#   make / make all       build every step that exists
#   make step05           build one step (same as make -C step05_eventloop)
#   make run              build the newest step and run it on 127.0.0.1:$(PORT)
#   make test             unit tests, the stage harness on every stage and the
#                         notes' transcripts (= make check)
#   make test STEP=05     one stage: its columns (normal and sanitizer builds) and
#                         its unit tests, same matrix and summary line
#   make test-notes       only the notes' transcripts (NOTE=05 for one chapter)
#   make coverage         gcovr line and branch coverage, HTML under build/coverage/
#   make diff A=4 B=5     unified diff between two steps, build products left out
#   make fuzz             the framing decoder under libFuzzer (bounded time)
#   make chaos            random clients checked against a model, every column
#                         (SECONDS=600; replay: SEED=.. COLUMN=.., see tests/README.md)
#   make soak             step10 under churn: RSS, fds, threads (MINUTES=2 or HOURS=1)
#   make bench            the benchmark ladder, the size sweep and the clients
#                         (also bench-sweep, bench-client, bench-idle,
#                         bench-syscalls)
#   make clean

STEPS    := $(sort $(wildcard step[0-9][0-9]_*))
STEP_IDS := $(foreach s,$(STEPS),$(patsubst step%,%,$(firstword $(subst _, ,$(s)))))
NEWEST   := $(lastword $(STEPS))
PORT     ?= 5085
EXCLUDE  := -x '*.o' -x '*.d' -x server -x client -x '*.gcda' -x '*.gcno' -x '*.gcov'
# A step number with two digits: 5 and 05 are both step05.
pad       = $(if $(filter 1 2 3 4 5 6 7 8 9,$(1)),0$(1),$(1))
step_dir  = $(filter step$(call pad,$(1))_%,$(STEPS))

.PHONY: all run test check test-notes coverage diff fuzz chaos soak bench bench-idle \
        bench-syscalls bench-sweep bench-client clean \
        $(addprefix step,$(STEP_IDS))

all: $(addprefix step,$(STEP_IDS))

$(addprefix step,$(STEP_IDS)): step%:
	$(MAKE) -C $(filter step$*_%,$(STEPS))

run: step$(patsubst step%,%,$(firstword $(subst _, ,$(NEWEST))))
	./$(NEWEST)/server 127.0.0.1 $(PORT)

test check:
	@bash tests/run-all.sh $(if $(STEP),--step $(call pad,$(STEP)))

test-notes:
	@bash tests/notes/run.sh $(if $(NOTE),$(call pad,$(NOTE)))

coverage:
	@bash tests/run-all.sh --coverage

diff:
	@test -n "$(call step_dir,$(A))" -a -n "$(call step_dir,$(B))" || \
	    { echo "usage: make diff A=4 B=5 (two existing steps)" >&2; exit 2; }
	@diff -ruN $(EXCLUDE) $(call step_dir,$(A)) $(call step_dir,$(B)); test $$? -le 1

fuzz:
	@$(MAKE) -s -C tests fuzz

chaos:
	@CHAOS_SECONDS=$(SECONDS) bash tests/chaos/run.sh chaos

soak:
	@bash tests/chaos/run.sh soak

bench bench-idle bench-syscalls bench-sweep bench-client:
	@$(MAKE) -s -C tests/bench $@

clean:
	for s in $(STEPS); do $(MAKE) -s -C $$s clean; done
	rm -rf build
