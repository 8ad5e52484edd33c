"""Models: versions, the approval workflow and registry back ends."""
