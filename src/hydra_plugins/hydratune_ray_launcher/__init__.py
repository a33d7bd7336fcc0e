"""hydratune's Ray launcher as Hydra finds it: ``ray_launcher.py`` registers its config."""
