/* gen_world.h — placeholder; the generator is being written. */
#ifndef GEN_WORLD_H
#define GEN_WORLD_H
#endif
