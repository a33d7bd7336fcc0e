"""One job = one trial: trial configs, Hydra's job contract, and the launchers that run jobs
(in the sweeper's process, in local worker processes, on Ray)."""
