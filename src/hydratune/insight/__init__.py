"""What a study tells a person after (or while) it runs: report, export of the best config,
and reruns of the top trials with several seeds."""
