# Local development entry points.
#   make run    the API on http://127.0.0.1:$(PORT) (default 3000) against a local stack
#   make test   template lints, cargo fmt --check, cargo machete, clippy -D warnings and cargo test against a fresh stack
#   make build  sam build (cargo lambda, arm64) into .aws-sam/build, checked; make zips  the zips alone
#   make validate  cfn-lint + sam validate --lint
# The local stack (DynamoDB Local + moto_server on loopback) is scripts/stack.sh; it
# installs its tools into .tools and .venv on first use; scripts/lambda.sh installs
# cargo-lambda, cfn-lint (.venv) and the SAM CLI (.tools/sam) the same way.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

.PHONY: help install run test build zips validate bench fuzz fmt clippy stack-up stack-down stack-status clean-local

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-13s %s\n", $$1, $$2 }'

install: ## install DynamoDB Local, playwright-core (.tools), moto (.venv), chromium if missing
	bash scripts/stack.sh install
	bash scripts/browser.sh install

run: ## persistent stack + auditctl init + demo org/keys + auditctl serve (PORT=3000)
	bash scripts/run.sh

test: ## template lints, fmt check, cargo machete, clippy and cargo test (with the browser test) against a fresh in-memory stack
	bash scripts/browser.sh install
	bash scripts/stack.sh with-stack bash scripts/test.sh

build: ## sam build (rust-cargolambda, arm64) into .aws-sam/build; checks each function's bootstrap is an arm64 ELF
	bash scripts/lambda.sh sam-build

zips: ## cargo lambda build --release --arm64 alone: target/lambda/{ingest,query,export,scheduler,arrivals}/bootstrap.zip, with sizes
	bash scripts/lambda.sh build

validate: ## cfn-lint and sam validate --lint on template.yaml (tools installed into .venv, .tools/sam)
	bash scripts/lambda.sh validate

bench: ## release build + fresh stack + every benchmark vs its baseline; writes bench/RESULTS.md (QUICK=1: small)
	bash scripts/bench.sh

fuzz: ## cargo-fuzz: each target (fuzz/fuzz_targets) for FUZZ_SECONDS (default 60), from fuzz/seeds; prints execs per target
	bash scripts/fuzz.sh

fmt: ## format the workspace
	cargo fmt --all

clippy: ## lint the workspace like CI does
	cargo clippy --workspace --all-targets -- -D warnings

stack-up: ## start the persistent stack in the background (env in .local/stack.env)
	bash scripts/stack.sh up --persistent

stack-down: ## stop the stack started by stack-up
	bash scripts/stack.sh down

stack-status: ## list the stacks started from this checkout
	bash scripts/stack.sh status

clean-local: ## stop every local stack and delete .local (data, keys, logs)
	bash scripts/stack.sh down --all
	rm -rf .local
