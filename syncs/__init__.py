"""Ferry's sync engine: warehouse-side diff, policies, batching, exactly-once sends.

Entry points: `syncs.config.load_syncs`, `syncs.registry.build_destination`,
`syncs.engine.plan`, `syncs.engine.run`. No Dagster imports here.
"""
