"""Launching jobs: manifests, environments, GPUs, the job queue, executors and reproduction."""
