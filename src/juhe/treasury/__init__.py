"""Treasury: FX quotes, cash-flow forecasts and reserve/investment advice, supply-chain finance."""
