int corral_spawn_placeholder(void);
