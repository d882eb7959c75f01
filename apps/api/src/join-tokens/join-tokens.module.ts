import { Module } from '@nestjs/common';
import { JoinTokensController } from './join-tokens.controller.js';
import { JoinTokensService } from './join-tokens.service.js';

@Module({ controllers: [JoinTokensController], providers: [JoinTokensService] })
export class JoinTokensModule {}
