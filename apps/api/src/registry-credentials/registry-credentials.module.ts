import { Module } from '@nestjs/common';
import { RegistryCredentialsController } from './registry-credentials.controller.js';
import { RegistryCredentialsService } from './registry-credentials.service.js';

@Module({
  controllers: [RegistryCredentialsController],
  providers: [RegistryCredentialsService],
})
export class RegistryCredentialsModule {}
