"""Treasury: FX quotes now; forecasts, reserve advice and supply-chain finance later."""
