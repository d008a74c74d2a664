# BCI evaluation: offline (MOABB within/cross-session) and pseudo-online.
